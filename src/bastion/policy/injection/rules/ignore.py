# ruff: noqa: RUF001
"""Rules of the family `ignore_previous`: ignore / disregard / forget previous instructions, in many languages."""

from __future__ import annotations

from bastion.policy.injection.rules.base import (
    FILL,
    IGNORE,
    IGNORE_WORDS,
    NOT_QUOTED_DEFENCE,
    OBJ,
    QUAL,
    Rule,
    S,
    rule,
)

RULES: tuple[Rule, ...] = (
    # ---- ignore / override previous instructions
    rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:{FILL}{S}){{0,2}}{QUAL}{S}(?:(?:{QUAL}|{FILL}){S}){{0,3}}{OBJ}\b"
          + NOT_QUOTED_DEFENCE, IGNORE_WORDS),
    rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:the{S})?{OBJ}{S}(?:above|before|so far|given (?:to you )?(?:before|earlier|previously|above)"
          r"|you(?:'ve| have| were| had)? (?:been )?(?:given|told))\b",
          IGNORE_WORDS),
    rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget)\w*{S}(?:about{S})?(?:everything|all(?: of it| that)?|anything){S}"
          r"(?:from )?(?:above|before|prior|previously|so far|(?:that )?(?:you(?:'ve| have| were| had)?|i)(?: been)? (?:told|said|given|taught|instructed|learned))",
          "ignore ignoring disregard forget forgetting"),
    rule("ignore_previous", 0.9, r"\b(?:new|updated|real|actual|true) (?:system )?(?:instructions|rules|task|directive|objective)s?\s*:"
          r"|\byour (?:new|real|actual|only) (?:instructions|task|rules|goal|objective|purpose) (?:is|are|will be)\b",
          "new updated real actual true your"),
    rule("ignore_previous", 0.92, r"\b(?:from now on|henceforth|starting now)\b[^.\n]{0,40}\b(?:you (?:will|must|shall|are going to) "
          r"(?:ignore|disregard|forget|no longer|not follow|obey only|only obey)|(?:ignore|disregard|forget) (?:all|any|your))",
          "now henceforth"),
    # multilingual
    rule("ignore_previous", 0.95, r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*|uberspring\w*)\b[^.!?\n]{0,40}"
          r"\b(?:alle\w*|vorherig\w*|bisherig\w*|obig\w*|vorangegangen\w*|fruher\w*|deine\w*|ihre)\b[^.!?\n]{0,30}"
          r"(?:anweisung\w*|instruktion\w*|regeln|befehle|vorgaben|richtlinien|systemprompt|gesagt wurde)",
          "ignoriere ignorieren ignoriert vergiss vergessen missachte missachten uberspringe"),
    rule("ignore_previous", 0.95, r"\b(?:ignore[rz]?|oublie[rz]?|ne tiens pas compte|ne tenez pas compte|fais abstraction|faites abstraction)\b"
          r"[^.!?\n]{0,40}\b(?:toute?s?|tous|precedent\w*|anterieur\w*|ci-dessus|tes|vos)\b[^.!?\n]{0,30}"
          r"\b(?:instructions?|consignes?|regles?|directives?|ordres|prompt|tout ce qu)",
          "ignore ignorer ignorez oublie oublier oubliez tiens tenez abstraction"),
    rule("ignore_previous", 0.95, r"\b(?:ignora\w*|olvida\w*|haz caso omiso|hagan caso omiso|omite|descarta\w*|esqueca\w*|esquece|desconsidere)\b"
          r"[^.!?\n]{0,40}\b(?:toda?s?|todos?|tudo|anteriores|previa?s?|tus|sus|precedenti|tutte|suas|antes)\b[^.!?\n]{0,30}"
          r"\b(?:instrucciones|indicaciones|reglas|directrices|ordenes|normas|istruzioni|regole|direttive|indicazioni|"
          r"instrucoes|regras|diretrizes|ordens|te dijeron|lhe disseram|ti e stato detto)",
          "ignora ignore ignoren olvida olvide olviden omiso omite descarta esqueca esquece desconsidere dimentica "
          "ignorate ignori"),
    rule("ignore_previous", 0.95, r"\b(?:dimentica\w*|trascura\w*)\b[^.!?\n]{0,40}\b(?:tutt\w*|precedent\w*|sopra|tue)\b"
          r"[^.!?\n]{0,30}\b(?:istruzioni|regole|direttive|indicazioni|quello che ti e stato detto)",
          "dimentica dimenticate trascura"),
    # "vergeet ... niet", "nie zapomnij", "jangan lupakan": don't forget (twenty-third round)
    rule("ignore_previous", 0.95, r"(?<!\bnie )(?<!\bjangan )\b(?:negeer|vergeet(?![^.!?\n]*\bniet\b)|zignoruj|ignoruj|zapomnij|"
          r"abaikan|lupakan)\b[^.!?\n]{0,40}"
          r"\b(?:instructies|regels|aanwijzingen|instrukcje|polecenia|zasady|reguly|instruksi|perintah|aturan|petunjuk|"
          r"wat je eerder|co ci wczesniej)", "negeer vergeet zignoruj ignoruj zapomnij abaikan lupakan"),
    rule("ignore_previous", 0.95, r"\b(?:onceki|daha once|yukaridaki|tum)\b[^.!?\n]{0,40}(?:talimat\w*|kural\w*|komut\w*|yonerge\w*|soylenen)"
          r"[^.!?\n]{0,30}\b(?:yok say\w*|gormezden gel\w*|unut\w*|dikkate alma\w*)", "onceki once yukaridaki tum"),
    # "не забудь" (don't forget) is advice; the object starts a word ("отправил" is not "правил"): twenty-third round
    rule("ignore_previous", 0.95, r"(?<!\bне )\b(?:игнорируй\w*|проигнорируй\w*|забудь\w*|не обращай внимания|отбрось|ігноруй|забудь)\b"
          r"[^.!?\n]{0,40}\b(?:инструкци\w*|указани\w*|правил\w*|команд\w*|установк\w*|ограничени\w*|интрукц\w*|інструкці\w*|вказівк\w*|"
          r"что тебе говорили|сказали)", "игнорируй игнорируйте проигнорируй забудь забудьте обращай отбрось ігноруй"),
    # "ignore my earlier question" is correspondence: an earlier / all / your needs an instruction noun (twenty-third round)
    rule("ignore_previous", 0.95, r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|跳过|無視|忘れ|무시|잊어)[^。！？\n]{0,16}"
          r"(?:(?:之前|以前|先前|前面|所有|全部|你的|これまで|以前|前の|すべて|이전|앞의|모든)[^。！？\n]{0,10}"
          r"(?:指令|指示|说明|說明|规则|規則|提示|命令|设定|設定|要求|约束|約束|限制|内容|內容|对话|對話|ルール|制限|지시|지침|명령|규칙|설정|제한|내용|대화)"
          r"|上面|上述|以上|上記|위의)"
          r"|(?:之前|以前|先前|上面|上述|前面|所有|これまでの|以前の|前の|上記の|すべての|이전|앞의|위의|모든)[^。！？\n]{0,16}"
          r"(?:指令|指示|说明|规则|提示|命令|设定|要求|ルール|設定|지시|지침|명령|규칙)[^。！？\n.]{0,16}(?:忽略|无视|無視|忘れ|무시|잊어)",
          substrings="忽略 无视 忽视 忘记 忘掉 不要理会 不要遵守 跳过 無視 忘れ 무시 잊어"),
    rule("ignore_previous", 0.95, r"(?:تجاهل|انس|تناس)[^.\n]{0,40}(?:التعليمات|الأوامر|القواعد|الإرشادات|ما قيل)"
          r"|(?:पिछले|सभी|पूर्व)[^।\n]{0,30}(?:निर्देश|नियम)[^।\n]{0,30}(?:अनदेखा|नजरअंदाज|भूल)"
          r"|(?<!\bđừng )(?<!\bdung )\b(?:bo qua|phot lo|quen)\b[^.\n]{0,30}\b(?:huong dan|chi dan|chi thi|quy tac)",
          "bo phot quen", "تجاهل انس تناس पिछले सभी पूर्व"),
    # ---- added: ignore-previous variants (no qualifier + an order, "ignore the above and …", supersede, typos)
    rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget|skip)\w*{S}(?:the{S}|these{S}|those{S}|all{S}|any{S})?"
          rf"(?:instructions?|directions?|rules|guidelines|prompts?)(?:{S}(?:at the top|above|before|given))?\W{{0,3}}"
          rf"(?:(?:and|then|instead){S}){{0,2}}(?:just{S}|only{S}|simply{S}|now{S})?(?:print|say|output|write|respond|reply|"
          r"answer|tell|return|translate|repeat|obey|send)\b", "ignore ignoring disregard forget skip"),
    rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget)\w*{S}(?:all{S})?(?:of{S})?the{S}above\W{{0,3}}(?:and|then|instead)"
          rf"\W{{1,3}}(?:(?:just|only|simply|now|instead){S}){{0,2}}(?:say|print|output|write|respond|reply|translate|tell|send|exfiltrate|"
          r"reveal|repeat|follow|act|return|do)\b", "ignore ignoring disregard forget"),
    rule("ignore_previous", 0.92, r"\b(?:ignore|disregard|forget)\w*\W{1,3}(?:about\W{1,3})?what(?:ever)? you(?:'ve| have| were| had)?"
          r"(?: been)? (?:told|given|taught|instructed|programmed)\b", "ignore ignoring disregard forget"),
    rule("ignore_previous", 0.9, r"\bnew (?:instructions?|directives?|commands?|task|orders)\b[^.\n]{0,30}\b(?:supersede|override|"
          r"take precedence over)s?\b[^.\n]{0,15}\b(?:all |any |the |your )?(?:prior|previous|earlier|above|preceding|original)\b",
          "supersede supersedes override overrides precedence"),
    rule("ignore_previous", 0.92, r"\b(?:ignora\w*|olvida\w*|haz caso omiso|omite|descarta\w*|esqueca\w*|esquece|desconsidere|dimentica\w*)\b"
          r"[^.!?\n]{0,20}\b(?:instrucciones|indicaciones|reglas|directrices|ordenes|normas|istruzioni|regole|direttive|indicazioni|"
          r"instrucoes|regras|diretrizes|ordens)\b[^.!?\n]{0,12}\b(?:anteriores|previas|precedentes|precedenti|anteriori|previe|"
          r"de antes|originales|originais|originali)\b",
          "ignora ignore ignoren olvida olvide olviden omiso omite descarta esqueca esquece desconsidere dimentica "
          "ignorate ignori"),
    # Turkish: the object and the verb in either order; negative imperatives ("unutma": do not forget) excluded
    rule("ignore_previous", 0.92, r"\b(?:talimat|kural|yonerge|komut|mesaj|soylenen)\w*\s+(?:\w+\s+)?(?:unut(?:mak\b|(?!ma)\w*)|"
          r"yok say(?!ma)\w*|gormezden gel(?!me)\w*|hice say(?!ma)\w*|dikkate alma\b)|\b(?:unut(?:mak\b|(?!ma)\w*)|yok say(?!ma)\w*|"
          r"gormezden gel(?!me)\w*)\W{1,3}(?:\w+\s+)?(?:talimat|kural|yonerge|komut)\w*",
          substrings="talimat kural yonerge komut mesaj soylenen"),
    # Persian
    rule("ignore_previous", 0.92, r"(?:دستورالعمل|دستورات|دستورها|قوانین|قواعد|دستور)[^.\n]{0,40}(?:نادیده|فراموش کن|کنار بگذار)",
          substrings="نادیده فراموش بگذار"),
    rule("ignore_previous", 0.9, r"\b(?:ignore|disregard)\b[^.\n]{0,10}\b(?:them|it|those|everything else|all (?:other|else))\b"
          r"[^.\n]{0,15}\b(?:and )?instead (?:focus (?:only|exclusively|solely)|respond with|reply with|say|print|output|only)\b"
          r"|\b(?:ignore|disregard)\w* (?:all|any) (?:info|information|content|text|data|documents?)(?: [a-z]+)?"
          r" except (?:for )?(?:the following|this|what)\b", "instead except"),
    rule("ignore_previous", 0.9, r"\b(?:new|updated) (?:important |urgent )?(?:system )?instructions?\s*(?:\*{2,}|#{2,}|={2,})"
          r"|\budhezime te reja te rendesishme\b", "instructions instruction udhezime"),
    # ---- added (5): announced rule changes, "the rules do not apply here", partial prompt leaks, task-wrapped toxic
    # sentences (latent jailbreaks), "GODMODE: ENABLED" templates, "as an unfiltered language model", Turkish
    rule("ignore_previous", 0.9, r"\byour (?:rules|instructions|guidelines|restrictions|programming|directives|constraints|"
          r"safety (?:rules|guidelines|settings)|content polic(?:y|ies)) (?:have|has) (?:just )?(?:been |now )?(?:changed|updated|"
          r"modified|lifted|removed|overridden|replaced|suspended|revoked|disabled|reset)\b[^.\n]{0,60}\byou (?:now|can now|may now|"
          r"are now|will now|no longer|must now)\b", "changed updated modified lifted removed overridden replaced suspended "
          "revoked disabled reset"),
)
