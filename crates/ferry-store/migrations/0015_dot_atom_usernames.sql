-- User names became dot-atom addresses (issue 16): no quotes, parentheses,
-- brackets, backslashes, colons, angle brackets, commas or semicolons, no
-- leading, trailing or double dots, and no bidirectional or invisible format
-- characters. The store reads user names back through `Email::parse`, so a
-- name stored under the looser rule would make its draft unreadable. Such a
-- name is cleared instead: the user keeps their plan, pre-flight reports
-- `username_required` for them, and the migrator chooses a name again. The
-- domain part never held any of these (its labels were letters, digits and
-- hyphens already), so matching the whole address is matching the name part.
-- LIKE with literal characters reads the same on SQLite and PostgreSQL
-- (`ESCAPE '!'` because PostgreSQL's LIKE escapes with a backslash by
-- default). The last lines hold the format characters themselves, which
-- neither engine can spell as an escape both read: U+200B–U+200F,
-- U+202A–U+202E, U+2060, U+2066–U+2069, U+FEFF and U+00AD.
UPDATE draft_assignments SET username = NULL
WHERE username LIKE '%@%' AND (
    username LIKE '%"%' ESCAPE '!'
    OR username LIKE '%(%' ESCAPE '!'
    OR username LIKE '%)%' ESCAPE '!'
    OR username LIKE '%[%' ESCAPE '!'
    OR username LIKE '%]%' ESCAPE '!'
    OR username LIKE '%\%' ESCAPE '!'
    OR username LIKE '%:%' ESCAPE '!'
    OR username LIKE '%<%' ESCAPE '!'
    OR username LIKE '%>%' ESCAPE '!'
    OR username LIKE '%,%' ESCAPE '!'
    OR username LIKE '%;%' ESCAPE '!'
    OR username LIKE '.%' ESCAPE '!'
    OR username LIKE '%.@%' ESCAPE '!'
    OR username LIKE '%..%' ESCAPE '!'
    OR username LIKE '%​%' ESCAPE '!'
    OR username LIKE '%‌%' ESCAPE '!'
    OR username LIKE '%‍%' ESCAPE '!'
    OR username LIKE '%‎%' ESCAPE '!'
    OR username LIKE '%‏%' ESCAPE '!'
    OR username LIKE '%‪%' ESCAPE '!'
    OR username LIKE '%‫%' ESCAPE '!'
    OR username LIKE '%‬%' ESCAPE '!'
    OR username LIKE '%‭%' ESCAPE '!'
    OR username LIKE '%‮%' ESCAPE '!'
    OR username LIKE '%⁠%' ESCAPE '!'
    OR username LIKE '%⁦%' ESCAPE '!'
    OR username LIKE '%⁧%' ESCAPE '!'
    OR username LIKE '%⁨%' ESCAPE '!'
    OR username LIKE '%⁩%' ESCAPE '!'
    OR username LIKE '%﻿%' ESCAPE '!'
    OR username LIKE '%­%' ESCAPE '!'
);
UPDATE committed_assignments SET username = NULL
WHERE username LIKE '%@%' AND (
    username LIKE '%"%' ESCAPE '!'
    OR username LIKE '%(%' ESCAPE '!'
    OR username LIKE '%)%' ESCAPE '!'
    OR username LIKE '%[%' ESCAPE '!'
    OR username LIKE '%]%' ESCAPE '!'
    OR username LIKE '%\%' ESCAPE '!'
    OR username LIKE '%:%' ESCAPE '!'
    OR username LIKE '%<%' ESCAPE '!'
    OR username LIKE '%>%' ESCAPE '!'
    OR username LIKE '%,%' ESCAPE '!'
    OR username LIKE '%;%' ESCAPE '!'
    OR username LIKE '.%' ESCAPE '!'
    OR username LIKE '%.@%' ESCAPE '!'
    OR username LIKE '%..%' ESCAPE '!'
    OR username LIKE '%​%' ESCAPE '!'
    OR username LIKE '%‌%' ESCAPE '!'
    OR username LIKE '%‍%' ESCAPE '!'
    OR username LIKE '%‎%' ESCAPE '!'
    OR username LIKE '%‏%' ESCAPE '!'
    OR username LIKE '%‪%' ESCAPE '!'
    OR username LIKE '%‫%' ESCAPE '!'
    OR username LIKE '%‬%' ESCAPE '!'
    OR username LIKE '%‭%' ESCAPE '!'
    OR username LIKE '%‮%' ESCAPE '!'
    OR username LIKE '%⁠%' ESCAPE '!'
    OR username LIKE '%⁦%' ESCAPE '!'
    OR username LIKE '%⁧%' ESCAPE '!'
    OR username LIKE '%⁨%' ESCAPE '!'
    OR username LIKE '%⁩%' ESCAPE '!'
    OR username LIKE '%﻿%' ESCAPE '!'
    OR username LIKE '%­%' ESCAPE '!'
);
