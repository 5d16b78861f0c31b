"""Notifications that reach people (issue 14, part 4): the ``kind: notifications`` file
(:mod:`.config`, pure), the transports (:mod:`.transports`: SMTP, signed webhook, WeCom
and DingTalk robots), the bilingual templates (:mod:`.templates`) and the engine extension
that writes and sends the notices (:mod:`.extension`, imported where an engine is built)."""
