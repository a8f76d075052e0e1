"""What every migration passes to `op.create_table` so MySQL and MariaDB compare text the
way the other databases do.

This module sits beside `versions/`, not in it, so Alembic never takes it for a revision.

MySQL compares text case-insensitively by default ("Loss" and "loss" would collide as keys,
LIKE would ignore case), and utf8mb4_bin still ignores trailing spaces ('p' = 'p '). A
binary collation without padding gives the semantics of the other databases: MariaDB calls
it utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin.
"""

from __future__ import annotations

from typing import Any

from alembic import op


def table_options() -> dict[str, Any]:
    """`mysql_charset` and `mysql_collate` on MySQL/MariaDB; nothing on other databases."""
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return {}
    version = str(bind.exec_driver_sql("SELECT VERSION()").scalar())
    collation = "utf8mb4_nopad_bin" if "mariadb" in version.lower() else "utf8mb4_0900_bin"
    return {"mysql_charset": "utf8mb4", "mysql_collate": collation}
