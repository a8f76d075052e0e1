// Plotly (from the installed plotly package) is large: loaded only by the pages that chart.
import { h } from "./dom.js";

let loading = null;

export function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  loading ||= new Promise((resolve, reject) => {
    document.head.append(h("script", { src: "/static/vendor/plotly.min.js",
      onload: () => resolve(window.Plotly), onerror: () => reject(new Error("plotly.min.js did not load")) }));
  });
  return loading;
}
