"""Chinese catalog of the review note (msgid: the English text)."""

ZH: dict[str, str] = {}
