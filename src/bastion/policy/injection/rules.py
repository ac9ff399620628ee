# ruff: noqa: RUF001
"""Rules for known prompt-injection families, matched on the canonical (folded, lower-case) text.

A rule is a regular expression with the words that must occur for it to be worth running (its
anchors: canonical words, or substrings for scripts written without spaces). Strong rules report a
finding on their own with their score; weak rules ("cues") only feed the classifier. Patterns are
written in natural lower-case spelling and passed through the policy's Unicode fold when compiled,
so they match the folded text (accents stripped, look-alike letters mapped) in every language.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bastion.policy.normalize import fold

S = r"[\W_]{0,3}"  # between words: spaces, punctuation, or nothing when letters were glued together
# words before a match that make it a description or a prohibition rather than an order (checked in code:
# fourteen look-behinds at every position made the regex slow)
DESCRIBED = re.compile(r"(?:\battempts? to|\btrying to|\btries to|\btry to|\bdesigned to|\bhow to|\bways to|\bused to|"
                       r"\bnot|\bnever|n't|\bcannot) $")
NOT_QUOTED_DEFENCE = r"(?! {1,2}(?:in|inside|within|contained|embedded|found|from|that appear|which appear|that may|included|hidden)\b)"

IGNORE = (r"(?:ignore|ignoring|ignores|disregard|disregarding|forget|forgetting|neglect|skip|bypass|override|overwrite|"
          r"discard|abandon|dismiss|drop|cancel|erase|scrap|do not follow|don'?t follow|dont follow|stop following|"
          r"no longer follow|set aside|pay no attention to|never ?mind|nevermind|void)")
QUAL = (r"(?:all|any|every|each|your|previous|previously|prior|above|earlier|preceding|former|original|initial|old|"
        r"existing|current|system|developer|developers|default|safety|ethical|moral|content|hidden|pre-?set|"
        r"given|provided|openai'?s?|anthropic'?s?|programmed)")
FILL = r"(?:the|of|these|those|and|or|&|that|its|my|our|other|whatever|entire|whole|such|kind|sort|set|list)"
OBJ = (r"(?:instructions?|instruction set|rules?|directions?|directives?|guidelines?|guidance|prompts?|commands?|"
       r"constraints?|restrictions?|limitations?|polic(?:y|ies)|programming|training|conditioning|filters?|"
       r"guardrails?|safeguards?|boundaries|principles|protocols?|system ?prompt|orders|tasks?|context)")
EXFIL_VERB = (r"(?:reveal|print|show|display|output|repeat|recite|dump|leak|share|expose|disclose|tell me|give me|"
              r"provide|write out|spell out|echo|return|copy|paste|list|translate|encode|summari[sz]e|read back|"
              r"what (?:is|are|were|was)|what'?s)")
PROMPT_OBJ = r"(?:prompt|instructions|message|directives|rules|guidelines|configuration|preamble|pre-?prompt|context)"
IMPERATIVE = r"(?:^|[.!?:;\n]\s*|\b(?:please|now|first|then|and|you must|you should|you will|kindly|just)\s+)"
AI = r"(?:ai|a\.i\.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini|copilot)"


@dataclass(frozen=True, slots=True)
class Rule:
    family: str
    score: float  # 0 for cues (classifier features only)
    pattern: re.Pattern[str]
    anchors: frozenset[str]  # canonical words, one of which must occur
    substrings: tuple[str, ...]  # or one of these substrings (scripts without spaces, special tokens)

    def described(self, text: str, start: int) -> bool:
        """True when the words just before the match describe or forbid the act instead of ordering it."""
        return self.family == "ignore_previous" and DESCRIBED.search(text, max(0, start - 16), start) is not None

    @property
    def is_cue(self) -> bool:
        return self.score == 0.0


def _rule(family: str, score: float, pattern: str, anchors: str = "", substrings: str = "") -> Rule:
    folded = fold(pattern)
    return Rule(family, score, re.compile(folded), frozenset(re.findall(r"\w+", fold(anchors))),
                tuple(fold(substrings).split()))


_IGNORE_WORDS = ("ignore ignoring ignores disregard disregarding forget forgetting neglect skip bypass override "
                 "overwrite discard abandon dismiss drop cancel erase scrap follow following aside attention mind "
                 "nevermind void")

RULES: tuple[Rule, ...] = (
    # ---- ignore / override previous instructions
    _rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:{FILL}{S}){{0,2}}{QUAL}{S}(?:(?:{QUAL}|{FILL}){S}){{0,3}}{OBJ}\b"
          + NOT_QUOTED_DEFENCE, _IGNORE_WORDS),
    _rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:the{S})?{OBJ}{S}(?:above|before|so far|given (?:to you )?(?:before|earlier|previously|above))\b",
          _IGNORE_WORDS),
    _rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget)\w*{S}(?:about{S})?(?:everything|all(?: of it| that)?|anything){S}"
          r"(?:above|before|prior|previously|so far|(?:that )?(?:you(?:'ve| have| were| had)?|i)(?: been)? (?:told|said|given|taught|instructed|learned))",
          "ignore ignoring disregard forget forgetting"),
    _rule("ignore_previous", 0.9, r"\b(?:new|updated|real|actual|true) (?:system )?(?:instructions|rules|task|directive|objective)s?\s*:"
          r"|\byour (?:new|real|actual|only) (?:instructions|task|rules|goal|objective|purpose) (?:is|are|will be)\b",
          "new updated real actual true your"),
    _rule("ignore_previous", 0.92, r"\b(?:from now on|henceforth|starting now)\b[^.\n]{0,40}\b(?:you (?:will|must|shall|are going to) "
          r"(?:ignore|disregard|forget|no longer|not follow|obey only|only obey)|(?:ignore|disregard|forget) (?:all|any|your))",
          "now henceforth"),
    # multilingual
    _rule("ignore_previous", 0.95, r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*|uberspring\w*)\b[^.!?\n]{0,40}"
          r"\b(?:alle\w*|vorherig\w*|bisherig\w*|obig\w*|vorangegangen\w*|fruher\w*|deine\w*|ihre)\b[^.!?\n]{0,30}"
          r"(?:anweisung\w*|instruktion\w*|regeln|befehle|vorgaben|richtlinien|systemprompt|gesagt wurde)",
          "ignoriere ignorieren ignoriert vergiss vergessen missachte missachten uberspringe"),
    _rule("ignore_previous", 0.95, r"\b(?:ignore[rz]?|oublie[rz]?|ne tiens pas compte|ne tenez pas compte|fais abstraction|faites abstraction)\b"
          r"[^.!?\n]{0,40}\b(?:toute?s?|tous|precedent\w*|anterieur\w*|ci-dessus|tes|vos)\b[^.!?\n]{0,30}"
          r"\b(?:instructions?|consignes?|regles?|directives?|ordres|prompt|tout ce qu)",
          "ignore ignorer ignorez oublie oublier oubliez tiens tenez abstraction"),
    _rule("ignore_previous", 0.95, r"\b(?:ignora\w*|olvida\w*|haz caso omiso|hagan caso omiso|omite|descarta\w*|esqueca\w*|esquece|desconsidere)\b"
          r"[^.!?\n]{0,40}\b(?:toda?s?|todos|anteriores|previa?s?|tus|sus|precedenti|tutte|suas|antes)\b[^.!?\n]{0,30}"
          r"\b(?:instrucciones|indicaciones|reglas|directrices|ordenes|normas|istruzioni|regole|direttive|indicazioni|"
          r"instrucoes|regras|diretrizes|ordens|te dijeron|lhe disseram|ti e stato detto)",
          "ignora ignore ignoren olvida olvide olviden omiso omite descarta esqueca esquece desconsidere dimentica "
          "ignorate ignori"),
    _rule("ignore_previous", 0.95, r"\b(?:dimentica\w*|trascura\w*)\b[^.!?\n]{0,40}\b(?:tutt\w*|precedent\w*|sopra|tue)\b"
          r"[^.!?\n]{0,30}\b(?:istruzioni|regole|direttive|indicazioni|quello che ti e stato detto)",
          "dimentica dimenticate trascura"),
    _rule("ignore_previous", 0.95, r"\b(?:negeer|vergeet|zignoruj|ignoruj|zapomnij|abaikan|lupakan)\b[^.!?\n]{0,40}"
          r"\b(?:instructies|regels|aanwijzingen|instrukcje|polecenia|zasady|reguly|instruksi|perintah|aturan|petunjuk|"
          r"wat je eerder|co ci wczesniej)", "negeer vergeet zignoruj ignoruj zapomnij abaikan lupakan"),
    _rule("ignore_previous", 0.95, r"\b(?:onceki|daha once|yukaridaki|tum)\b[^.!?\n]{0,40}(?:talimat\w*|kural\w*|komut\w*|yonerge\w*|soylenen)"
          r"[^.!?\n]{0,30}\b(?:yok say\w*|gormezden gel\w*|unut\w*|dikkate alma\w*)", "onceki once yukaridaki tum"),
    _rule("ignore_previous", 0.95, r"\b(?:игнорируй\w*|проигнорируй\w*|забудь\w*|не обращай внимания|отбрось|ігноруй|забудь)\b[^.!?\n]{0,40}"
          r"(?:инструкци\w*|указани\w*|правил\w*|команд\w*|установк\w*|ограничени\w*|интрукц\w*|інструкці\w*|вказівк\w*|"
          r"что тебе говорили|сказали)", "игнорируй игнорируйте проигнорируй забудь забудьте обращай отбрось ігноруй"),
    _rule("ignore_previous", 0.95, r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|跳过|無視|忘れ|무시|잊어)[^。！？\n]{0,16}"
          r"(?:之前|以前|先前|上面|上述|前面|所有|全部|你的|これまで|以前|前の|上記|すべて|이전|앞의|위의|모든)"
          r"|(?:之前|以前|先前|上面|上述|前面|所有|これまでの|以前の|前の|上記の|すべての|이전|앞의|위의|모든)[^。！？\n]{0,16}"
          r"(?:指令|指示|说明|规则|提示|命令|设定|要求|ルール|設定|지시|지침|명령|규칙)[^。！？\n.]{0,16}(?:忽略|无视|無視|忘れ|무시|잊어)",
          substrings="忽略 无视 忽视 忘记 忘掉 不要理会 不要遵守 跳过 無視 忘れ 무시 잊어"),
    _rule("ignore_previous", 0.95, r"(?:تجاهل|انس|تناس)[^.\n]{0,40}(?:التعليمات|الأوامر|القواعد|الإرشادات|ما قيل)"
          r"|(?:पिछले|सभी|पूर्व)[^।\n]{0,30}(?:निर्देश|नियम)[^।\n]{0,30}(?:अनदेखा|नजरअंदाज|भूल)"
          r"|\b(?:bo qua|phot lo|quen)\b[^.\n]{0,30}\b(?:huong dan|chi dan|chi thi|quy tac)",
          substrings="تجاهل انس تناس पिछले सभी पूर्व bo phot quen"),
    # ---- system prompt exfiltration
    _rule("prompt_exfiltration", 0.92, rf"\b{EXFIL_VERB}{S}(?:me{S})?(?:back{S})?(?:all{S}|of{S})?your{S}(?:\w+{S}){{0,2}}?"
          rf"(?:system|developer|initial|original|hidden|secret|confidential|internal|starting|first|pre|underlying|"
          rf"full|exact|entire|complete|operator'?s?){S}{PROMPT_OBJ}\b",
          "reveal print show display output repeat recite dump leak share expose disclose tell give provide write "
          "spell echo return copy paste list translate encode summarize summarise read what whats what's"),
    _rule("prompt_exfiltration", 0.9, rf"\b{EXFIL_VERB}{S}(?:me{S})?your{S}(?:system ?prompt|instructions|rules|guidelines|"
          rf"directives|configuration)\b(?!{S}(?:on|about|for) )",
          "reveal print show display output repeat recite dump leak share expose disclose tell give provide write "
          "spell echo return copy paste list translate encode summarize summarise read what whats what's"),
    _rule("prompt_exfiltration", 0.9, r"\b(?:repeat|print|output|copy|recite|reproduce|return|echo|write out)\b[^.\n]{0,30}"
          r"\b(?:text|words|everything|content|instructions|message|lines)\b[^.\n]{0,10}\b(?:above|before this|preceding|"
          r"before (?:my|the) first|at the (?:top|beginning|start))\b", "repeat print output copy recite reproduce return echo write"),
    _rule("prompt_exfiltration", 0.9, r"\b(?:verbatim|word for word|word-for-word|character for character)\b[^.\n]{0,60}"
          r"\b(?:prompt|instructions|system message)\b|\b(?:prompt|instructions|system message)\b[^.\n]{0,60}"
          r"\b(?:verbatim|word for word|word-for-word)\b", "verbatim word character"),
    _rule("prompt_exfiltration", 0.9, r"\bwhat (?:were|are) you (?:told|instructed|programmed|asked) (?:to do |not to )?(?:before|at the (?:start|beginning)|initially|by (?:the|your) (?:developer|operator|creator))",
          "what"),
    _rule("prompt_exfiltration", 0.92, r"\b(?:zeig\w*|gib|nenne|verrate)\b[^.!?\n]{0,20}\b(?:dein\w*|ihr\w*) (?:systemprompt|system-prompt|anweisungen|instruktionen)"
          r"|\b(?:affiche|montre|revele|donne|repete)\w*\b[^.!?\n]{0,20}\b(?:ton|votre|tes|vos) (?:prompt|instructions|consignes)"
          r"|\b(?:muestra\w*|revela\w*|dime|ensena\w*|mostre|revele|mostra\w*|rivela\w*|dimmi)\b[^.!?\n]{0,20}"
          r"\b(?:tu|tus|su|sus|seu|suas|il tuo|le tue|tuo) (?:prompt|instrucciones|instrucoes|istruzioni)"
          r"|\b(?:покажи|выведи|раскрой|напиши|покажіть|покажи)\b[^.!?\n]{0,20}(?:сво\w*|тво\w*|системн\w*) (?:промпт|инструкци\w*|підказ\w*)"
          r"|\bsistem (?:istemini|komutunu|talimatlarini|promptunu)",
          "zeig zeige zeigen gib nenne verrate affiche montre revele revele donne repete muestra muestrame revela dime "
          "ensename mostre revele mostra mostrami rivela dimmi покажи выведи раскрои напиши покажіть sistem"),
    _rule("prompt_exfiltration", 0.92, r"(?:输出|显示|告诉我|泄露|打印|重复)[^。！？\n]{0,10}(?:系统提示|系统指令|初始指令|提示词|系统消息)"
          r"|システムプロンプト[^。\n]{0,12}(?:表示|教え|出力)|시스템 프롬프트[^.\n]{0,12}(?:보여|알려|출력)",
          substrings="系统提示 系统指令 初始指令 提示词 系统消息 システムプロンプト 시스템"),
    _rule("prompt_exfiltration", 0.0, rf"\b{EXFIL_VERB}{S}(?:me{S})?the{S}(?:system|hidden|initial|developer){S}(?:prompt|message|instructions)\b",
          "reveal print show display output repeat dump leak tell give what whats what's"),
    # ---- role-play jailbreaks
    _rule("roleplay_jailbreak", 0.95, r"\bdo anything now\b|\b(?:dan|stan|dude|anti-dan|betterdan|aim) mode\b"
          r"|\b(?:jailbreak|jailbroken|god|unrestricted|uncensored|unfiltered|evil|chaos) mode (?:enabled|activated|on|engaged|unlocked)\b"
          r"|\b(?:enable|activate|enter|switch to|turn on) (?:jailbreak|jailbroken|god|unrestricted|uncensored|unfiltered|dan) mode\b",
          "anything mode"),
    _rule("roleplay_jailbreak", 0.92, r"\b(?:you are|you're|youre|act as|pretend to be|roleplay as|become)(?: now)? (?:dan|stan|dude|aim|"
          r"an? (?:unfiltered|uncensored|unrestricted|amoral|unethical|jailbroken|evil|immoral) (?:ai|chatbot|assistant|model|llm|bot|version))\b",
          "you are you're youre act pretend roleplay become"),
    _rule("roleplay_jailbreak", 0.9, rf"\b(?:you|{AI}|character|persona)\b[^.\n]{{0,60}}\b(?:no|without|free from|free of|freed from|"
          r"broken free of|broke free of|not bound by|unbound by|liberated from|(?:do|does|don't|doesn't|dont) not? (?:have|follow|abide by)|"
          r"doesn't have|does not have|don't have|do not have|never follows?|not restricted by)\b(?: any| the)?(?: typical)?"
          r"(?: ethical| moral| content| safety| openai'?s?| usual)? (?:restrictions|limitations|filters|censorship|guidelines|"
          r"rules|boundaries|constraints|policies|morals|ethics|confines|shackles|principles)\b",
          "you ai assistant llm model chatbot bot agent gpt chatgpt claude character persona"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:broken|broke|break|breaking|freed|free) (?:free )?(?:of|from)\b[^.\n]{0,30}\b(?:confines|"
          r"restrictions|limitations|shackles|constraints|guidelines|rules|chains)\b|\bdoes(?:n't| not) have to (?:abide by|follow|obey) "
          r"(?:any|the)\b[^.\n]{0,30}\b(?:rules|policies|guidelines|restrictions)", "broken broke break breaking freed free abide"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:ignore|bypass|circumvent|evade|disregard|break free of|escape)\b[^.\n]{0,20}"
          r"\b(?:your|all|any|the|openai'?s?|anthropic'?s?)\b[^.\n]{0,20}\b(?:safety|content|ethical|moral)\b[^.\n]{0,12}"
          r"\b(?:filters?|guidelines|polic(?:y|ies)|restrictions|safeguards|guardrails|moderation|censorship|training)\b",
          "ignore bypass circumvent evade disregard break escape"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:openai|anthropic)(?:'s)? (?:content )?polic(?:y|ies)\b[^.\n]{0,60}"
          r"\b(?:no longer|doesn't|does not|don't|do not|not|never|ignore|disregard|bypass|violat)",
          "openai openai's anthropic anthropic's"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:du|dich|dir|ab jetzt|von nun an|ab sofort)\b[^.!?\n]{0,40}\b(?:keine|ohne(?: jede)?) "
          r"(?:regeln|einschrankung\w*|beschrankung\w*|filter|zensur)"
          r"|\b(?:eres|actua como|a partir de ahora|ahora|sei|agora|voce e|tu es|tu n'as)\b[^.!?\n]{0,40}\b(?:sin|senza|sem|sans|plus aucune?) "
          r"(?:restricciones|restrizioni|restricoes|restrictions?|limites|limiti|censura|censure|filtros|filtri|regles|regras)"
          r"|\b(?:ты|теперь|отныне)\b[^.!?\n]{0,40}\b(?:без|нет) (?:ограничени\w*|цензур\w*|фильтр\w*|правил)"
          r"|\b(?:sen|artik|bundan sonra)\b[^.!?\n]{0,60}(?:kisitlama\w* (?:kaldir\w*|yok|olmayan)|sansursuz|filtresiz|sinirsiz|"
          r"kural tanimayan|guvenlik filtrelerin devre disi)|\b(?:gelistirici|jailbreak|dan) mod\w*\b"
          r"|(?:أنت)[^.\n]{0,40}(?:بلا قيود|بدون قيود|دون أي رفض)|(?:你)[^。！？\n]{0,20}(?:没有任何|没有|不受|无)(?:限制|审查|约束|过滤)"
          r"|(?:نادیده بگیر)[^.\n]{0,10}|(?:دستورهای قبلی)[^.\n]{0,30}(?:نادیده)",
          "keine ohne sin senza sem sans aucune aucun без нет kisitlama kisitlamasi sansursuz filtresiz sinirsiz tanimayan "
          "devre gelistirici jailbreak dan",
          "أنت 你 نادیده دستورهای"),
    _rule("roleplay_jailbreak", 0.0, r"\bdeveloper mode\b|\bstay in character\b|\bnever (?:refuse|decline|say no)\b"
          r"|\b(?:unfiltered|uncensored|unrestricted|amoral|jailbroken) (?:ai|chatbot|assistant|model|response|version|answer)s?\b"
          r"|\bjailbreak\w*\b|\bwithout (?:any )?(?:warnings|disclaimers|censorship|restrictions|filters)\b",
          "developer character never unfiltered uncensored unrestricted amoral jailbroken jailbreak jailbreaks without"),
    # ---- fake conversation turns and delimiter injection
    _rule("fake_turn", 0.9, r"<\|(?:im_start|start_header_id)\|>\s*(?:system|developer|assistant)|<\|(?:system|endoftext|eot_id|im_end)\|>"
          r"[^<]{0,20}(?:system|assistant|<\|)|\[/?inst\][^\n]{0,40}<<\s*sys\s*>>|<<\s*sys\s*>>[^\n]{0,200}<<\s*/\s*sys\s*>>",
          substrings="<| [inst] [/inst] <<sys"),
    _rule("fake_turn", 0.9, r"</?(?:system|sys|system_prompt|admin|developer|admin_instructions|instructions)>\s*\S[^<]{0,200}"
          r"(?:ignore|grant|disable|reveal|override|no longer|unrestricted|all requests|admin|system prompt|you (?:are|must|will))",
          substrings="<system <sys <admin <developer <instructions </system </sys </admin </instructions"),
    _rule("fake_turn", 0.9, r"\b(?:end|stop) of (?:the )?(?:user )?(?:input|prompt|instructions|conversation|document|context)\b"
          r"[^\n]{0,10}\W{0,5}\s*(?:#+|\[|<)?\s*(?:system|new instructions|assistant|admin|developer)\b",
          "end stop"),
    _rule("fake_turn", 0.9, r"(?:^|\n)\W{0,4}(?:#{2,}|\[|<)?\s*(?:system|admin|developer|root)\s*(?:override|message|notice|command|instruction|prompt|update)s?"
          r"\s*(?:#{2,}|\]|>)?\s*:?[^\n]{0,80}\b(?:ignore|disregard|override|grant|disable|reveal|unrestricted|no restrictions|all requests|"
          r"previous|must obey|new rules|admin)", "system admin developer root"),
    _rule("fake_turn", 0.0, r"(?:^|\n)\s*(?:system|assistant|developer|human|user)\s*:\s|\"role\"\s*:\s*\"(?:system|developer)\"|<\|[a-z_]+\|>",
          "system assistant developer human user role", "<|"),
    # ---- encoded payloads
    _rule("encoded_payload", 0.9, IMPERATIVE + r"(?:decode|decipher|decrypt|deobfuscate|unscramble|reverse|rot13|base64|hex)\w*\b[^.\n]{0,60}"
          r"\b(?:and|then|afterwards)\b[^.\n]{0,25}\b(?:follow|execute|obey|comply|carry out|perform|do (?:exactly )?(?:what|as) it says|"
          r"act on|do it|run the instructions)\b", "decode decipher decrypt deobfuscate unscramble reverse rot13 base64 hex "
          "decoded decoding"),
    _rule("encoded_payload", 0.9, IMPERATIVE + r"(?:follow|execute|obey|comply with|carry out|perform)\b[^.\n]{0,20}\b(?:the )?(?:hidden|encoded|"
          r"decoded|base64|obfuscated|secret) (?:instructions?|commands?|message|task|payload)\b",
          "follow execute obey comply carry perform"),
    # ---- instructions addressed to the model from inside content (indirect injection)
    _rule("indirect", 0.88, rf"\b(?:note|message|attention|reminder|important|p\.?s\.?|notice)s?\b\W{{0,3}}"
          rf"(?:to|for) (?:the |any |all )?{AI}s?\b", "note notes message messages attention reminder important "
          "ps notice"),
    _rule("indirect", 0.88, r"\bif you(?: are|'re| re) (?:an? )?(?:ai|llm|language model|large language model|assistant|chatbot|"
          r"ai assistant|automated (?:system|agent)|agent|bot)\b[^.\n]{0,80}\b(?:ignore|disregard|you must|you should|do not|instead|"
          r"tell|say|send|forward|rate|recommend|include|output|respond|reply)",
          "if"),
    _rule("indirect", 0.88, rf"\b{AI}s?\b (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|browsing|reviewing) (?:this|these)\b",
          "reading processing summarizing summarising parsing analyzing analysing browsing reviewing"),
    _rule("indirect", 0.0, r"\bwhen (?:you )?(?:summari[sz]e|summari[sz]ing|process|processing|read|reading|review)\b[^.\n]{0,40}"
          r"\b(?:also|instead|must|include|tell|send|forward|make sure)\b|\bdo not (?:tell|inform|mention|reveal|let) (?:this |it )?(?:to )?the user\b",
          "when not"),
)


def digest() -> str:
    """Identifies the rule set: a model's cue weights are only valid for the rules it was trained with."""
    text = "\n".join(f"{r.family}|{r.score}|{r.pattern.pattern}" for r in RULES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
