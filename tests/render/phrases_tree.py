"""A small phrases tree as FreeSWITCH lays one out (lang/ru/ru.xml including vm/sounds.xml and
demo/*.xml), for the tests of voicemail's vocabulary and of `bizpbx sounds`."""

from __future__ import annotations

from pathlib import Path

TOP = """<!-- a comment before the root, as in FreeSWITCH's ru.xml -->
<include>
  <language name="ru" sound-prefix="$${sounds_dir}/ru/RU/elena">
    <phrases><macros>
      <X-PRE-PROCESS cmd="include" data="demo/*.xml"/>
      <X-PRE-PROCESS cmd="include" data="vm/sounds.xml"/>
    </macros></phrases>
  </language>
</include>
"""
VOICEMAIL = """<include>
  <macro name="voicemail_play_greeting">
    <input pattern="^(.*)$"><match>
      <action function="play-file" data="voicemail/vm-person.wav"/>
      <action function="say" data="$1" method="pronounced" type="name_spelled"/>
      <action function="play-file" data="$1"/>
      <action function="play-file" data="tone_stream://%(275,10,600)"/>
    </match></input>
  </macro>
  <macro name="voicemail_message_count">
    <input pattern="^(1):(.*)$"><match>
      <action function="play-file" data="voicemail/vm-$2.wav"/>
      <action function="say" data="$1" method="pronounced" type="MESSAGES"/>
    </match></input>
    <input pattern="^(0|[5-9]):(.*)$"><match>
      <action function="play-file" data="voicemail/vm-$2x.wav"/>
    </match></input>
  </macro>
</include>
"""
DEMO = """<include><macro name="demo_ivr"><input pattern="(.*)"><match>
  <action function="play-file" data="demo/demo-ivr.wav"/></match></input></macro></include>
"""


def phrases(root: Path, voicemail: str = VOICEMAIL) -> Path:
    for name, text in {"ru.xml": TOP, "vm/sounds.xml": voicemail, "demo/demo.xml": DEMO}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root / "ru.xml"
