# ruff: noqa: RUF001
"""Rules of the family `prompt_exfiltration`: reveal / print / repeat the system prompt or hidden instructions."""

from __future__ import annotations

from bastion.policy.injection.rules.base import EXFIL_VERB, PROMPT_OBJ, Rule, S, rule

RULES: tuple[Rule, ...] = (
    # ---- system prompt exfiltration
    rule("prompt_exfiltration", 0.92, rf"\b{EXFIL_VERB}{S}(?:me{S})?(?:back{S})?(?:all{S}|of{S})?your{S}(?:\w+{S}){{0,2}}?"
          rf"(?:system|developer|initial|original|hidden|secret|confidential|internal|starting|first|pre|underlying|"
          rf"full|exact|entire|complete|operator'?s?){S}{PROMPT_OBJ}\b",
          "reveal print show display output repeat recite dump leak share expose disclose tell give provide write "
          "spell echo return copy paste list translate encode summarize summarise read what whats what's"),
    rule("prompt_exfiltration", 0.9, rf"\b{EXFIL_VERB}{S}(?:me{S})?your{S}(?:system ?prompt|instructions|rules|guidelines|"
          rf"directives|configuration)\b(?!{S}(?:on|about|for) )",
          "reveal print show display output repeat recite dump leak share expose disclose tell give provide write "
          "spell echo return copy paste list translate encode summarize summarise read what whats what's"),
    rule("prompt_exfiltration", 0.9, r"\b(?:repeat|print|output|copy|recite|reproduce|return|echo|write out)\b[^.\n]{0,30}"
          r"\b(?:text|words|everything|content|instructions|message|lines)\b[^.\n]{0,10}\b(?:above|before this|preceding|"
          r"before (?:my|the) first|at the (?:top|beginning|start))\b", "repeat print output copy recite reproduce return echo write"),
    rule("prompt_exfiltration", 0.9, r"\b(?:verbatim|word for word|word-for-word|character for character)\b[^.\n]{0,60}"
          r"\b(?:prompt|instructions|system message)\b|\b(?:prompt|instructions|system message)\b[^.\n]{0,60}"
          r"\b(?:verbatim|word for word|word-for-word)\b", "verbatim word character"),
    rule("prompt_exfiltration", 0.9, r"\bwhat (?:were|are) you (?:told|instructed|programmed|asked) (?:to do |not to )?(?:before|at the (?:start|beginning)|initially|by (?:the|your) (?:developer|operator|creator))",
          "what"),
    rule("prompt_exfiltration", 0.92, r"\b(?:zeig\w*|gib|nenne|verrate)\b[^.!?\n]{0,20}\b(?:dein\w*|ihr\w*) (?:systemprompt|system-prompt|anweisungen|instruktionen)"
          r"|\b(?:affiche|montre|revele|donne|repete)\w*\b[^.!?\n]{0,20}\b(?:ton|votre|tes|vos) (?:prompt|instructions|consignes)"
          r"|\b(?:muestra\w*|revela\w*|dime|ensena\w*|mostre|revele|mostra\w*|rivela\w*|dimmi)\b[^.!?\n]{0,20}"
          r"\b(?:tu|tus|su|sus|seu|suas|il tuo|le tue|tuo) (?:prompt|instrucciones|instrucoes|istruzioni)"
          r"|\b(?:покажи|выведи|раскрой|напиши|покажіть|покажи)\b[^.!?\n]{0,20}(?:сво\w*|тво\w*|системн\w*) (?:промпт|инструкци\w*|підказ\w*)"
          r"|\bsistem (?:istemini|komutunu|talimatlarini|promptunu)",
          "zeig zeige zeigen gib nenne verrate affiche affichez montre montrez revele revelez donne donnez repete muestra muestrame revela dime "
          "ensename mostre revele mostra mostrami rivela dimmi покажи выведи раскрои напиши покажіть sistem"),
    rule("prompt_exfiltration", 0.92, r"(?:输出|显示|告诉我|泄露|打印|重复)[^。！？\n]{0,10}(?:系统提示|系统指令|初始指令|提示词|系统消息)"
          r"|システムプロンプト[^。\n]{0,12}(?:表示|教え|出力)|시스템 프롬프트[^.\n]{0,12}(?:보여|알려|출력)",
          substrings="系统提示 系统指令 初始指令 提示词 系统消息 システムプロンプト 시스템"),
    rule("prompt_exfiltration", 0.0, rf"\b{EXFIL_VERB}{S}(?:me{S})?the{S}(?:system|hidden|initial|developer){S}(?:prompt|message|instructions)\b",
          "reveal print show display output repeat dump leak tell give what whats what's"),
    # ---- added: prompt exfiltration ("the rules you were given", "what were you told not to tell me", Turkish, Persian)
    rule("prompt_exfiltration", 0.9, rf"\b{EXFIL_VERB}{S}(?:me{S})?(?:all{S})?(?:of{S})?the{S}(?:exact{S}|full{S}|complete{S}|precise{S}|"
          r"specific{S}|secret{S}|hidden{S}|original{S})?(?:rules|instructions|guidelines|directives|prompt|constraints|text|words)\b "
          r"(?:that )?you (?:were|have been|'ve been|got) (?:given|told|provided|programmed|instructed|configured)\b",
          "given told provided programmed instructed configured"),
    rule("prompt_exfiltration", 0.9, r"\bwhat (?:were|have) you (?:been )?(?:told|instructed|asked|programmed) (?:not to|never to) "
          r"(?:tell|say|reveal|share|disclose|mention|discuss)\b", "told instructed asked programmed"),
    rule("prompt_exfiltration", 0.9, r"\b(?:ic|gizli|sistem|ilk|orijinal|tum ic|butun)\w* (?:yonerge|talimat|komut|istem|kural)\w*\s+"
          r"(?:\w+\s+)?(?:acikla|goster|yaz|paylas|soyle|listele|tekrarla)\w*|(?:پرامپت|دستورات|دستورالعمل)\S* ?(?:سیستم|سیستمی|اولیه|مخفی)"
          r"[^.\n]{0,30}(?:نشان|بگو|بنویس|فاش|تکرار)", substrings="yonerge talimat komut kural پرامپت دستورات دستورالعمل"),
    # ---- added (3): prompt-completion leaks, secrets "from your context", admin override orders, Korean, grandma
    rule("prompt_exfiltration", 0.9, r"\b(?:start|begin|complete|continue|finish)\w*\b[^.\n]{0,40}[\"'“‘](?:my (?:instructions|system prompt|"
          r"rules|guidelines|initial prompt|initial instructions) (?:are|is|were|say)|i was (?:instructed|told|programmed) to|"
          r"the system prompt (?:is|says|reads)|my system prompt)",
          "start starting begin beginning complete continue finish"),
    rule("prompt_exfiltration", 0.9, r"\b(?:repeat|print|output|copy|recite|reproduce|echo)\b[^.\n]{0,10}\bthe (?:above|preceding|previous|"
          r"prior|initial|first) (?:text|words|content|message|lines|prompt)\b"
          rf"|\b{EXFIL_VERB}\b[^.\n]{{0,30}}\b(?:api ?keys?|secrets?|passwords?|credentials|tokens?)\b[^.\n]{{0,20}}\b(?:from|in) your "
          r"(?:context|context window|memory|system prompt|instructions|configuration|environment)\b",
          "repeat recite reproduce echo above preceding context memory configuration environment"),
    rule("prompt_exfiltration", 0.9, r"\b(?:first|last|opening|initial|next)(?: \d+| few| two| three| five| ten)? (?:sentences?|lines?|"
          r"words?|paragraphs?|characters?|tokens?) of (?:your|the) (?:system (?:prompt|message|instructions)|(?:initial|original|"
          r"hidden|secret) (?:prompt|instructions)|instructions you were given|prompt you were given)\b"
          r"|\b(?:show|reveal|print|display|tell|give|output|dump|leak) (?:me )?the (?:hidden|secret|concealed) (?:system )?"
          r"(?:prompt|instructions|system message)\b"
          r"|\bwhat (?:was|is|were) (?:written|said|stated) (?:above|before) (?:this|our|the) (?:conversation|chat|dialogue)\b",
          "prompt instructions message conversation chat dialogue"),
    # more languages for families above: system-prompt leaks (Arabic, Dutch, Polish, Indonesian, Hindi), "you have no
    # restrictions" (Dutch, Polish, Indonesian, Hindi), Turkish "safety mode off"
    rule("prompt_exfiltration", 0.9, r"(?:أظهر|اعرض|اكشف|اطبع|اكتب|أعطني)[^.\n]{0,30}(?:موجه النظام|تعليمات النظام|التعليمات الأولية|رسالة النظام)"
          r"|\b(?:toon|geef|herhaal)\b[^.!?\n]{0,20}\b(?:je|jouw|uw) (?:systeemprompt|systeeminstructies|oorspronkelijke instructies)\b"
          r"|\b(?:pokaz|wypisz|ujawnij|podaj|powtorz)\w*\b[^.!?\n]{0,20}\b(?:swoj|twoj)\w* (?:prompt systemowy|instrukcje systemowe|"
          r"prompt)\b|\b(?:tampilkan|tunjukkan|ungkapkan|berikan|ulangi)\b[^.!?\n]{0,20}\b(?:prompt sistem|instruksi sistem)\b"
          r"|सिस्टम प्रॉम्प्ट[^।\n]{0,20}(?:दिखा|बता|लिख)",
          "toon geef herhaal pokaz pokazac wypisz ujawnij podaj powtorz tampilkan tunjukkan ungkapkan berikan ulangi",
          "موجه تعليمات التعليمات رسالة सिस्टम"),
)
