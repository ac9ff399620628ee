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
NOT_QUOTED_DEFENCE = r"(?! {1,2}(?:in|inside|within|contained|embedded|found|from(?! before| earlier| previous| prior)|that appear|which appear|that may|included|hidden)\b)"

IGNORE = (r"(?:ignore|ignoring|ignores|disregard|disregarding|forget|forgetting|neglect|skip|bypass|override|overwrite|"
          r"discard|abandon|dismiss|drop|cancel|erase|scrap|do not follow|don'?t follow|dont follow|stop following|"
          r"no longer follow|set aside|pay no attention to|never ?mind|nevermind|void)")
QUAL = (r"(?:all|any|every|each|your|previous|previously|prior|above|earlier|preceding|former|original|initial|old|"
        r"existing|current|system|developer|developers|default|safety|ethical|moral|content|hidden|pre-?set|"
        r"given|provided|openai'?s?|anthropic'?s?|programmed)")
FILL = (r"(?:the|of|these|those|and|or|&|that|its|my|our|other|whatever|entire|whole|such|kind|sort|set|list|following|"
        r"conversations?|chats?)")
OBJ = (r"(?:instructions?|instruction set|rules?|directions?|directives?|guidelines?|guidance|prompts?|commands?|"
       r"constraints?|restrictions?|limitations?|polic(?:y|ies)|programming|training|conditioning|filters?|"
       r"guardrails?|safeguards?|boundaries|principles|protocols?|system ?prompt|orders|tasks?|context|inputs?|"
       r"i\w?n\w?s\w?t\w?r\w{0,6}ions?)")
EXFIL_VERB = (r"(?:reveal|print|show|display|output|repeat|recite|dump|leak|share|expose|disclose|tell me|give me|"
              r"provide|write out|spell out|echo|return|copy|paste|list|translate|encode|summari[sz]e|read back|"
              r"what (?:is|are|were|was)|what'?s)")
PROMPT_OBJ = r"(?:prompt|instructions|message|directives|rules|guidelines|configuration|preamble|pre-?prompt|context)"
IMPERATIVE = r"(?:^|[.!?:;,\n]\s*|\b(?:please|now|first|then|and|you must|you should|you will|kindly|just)\s+)"
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


# pieces of contractions ("you're" → you, re): never an anchor on their own, the word before them is one
_FRAGMENTS = frozenset({"s", "t", "re", "ve", "ll", "d", "m"})


def _rule(family: str, score: float, pattern: str, anchors: str = "", substrings: str = "") -> Rule:
    folded = fold(pattern)
    words = frozenset(w for w in re.findall(r"\w+", fold(anchors)) if w not in _FRAGMENTS)
    return Rule(family, score, re.compile(folded), words, tuple(fold(substrings).split()))


_IGNORE_WORDS = ("ignore ignoring ignores disregard disregarding forget forgetting neglect skip bypass override "
                 "overwrite discard abandon dismiss drop cancel erase scrap follow following aside attention mind "
                 "nevermind void")

RULES: tuple[Rule, ...] = (
    # ---- ignore / override previous instructions
    _rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:{FILL}{S}){{0,2}}{QUAL}{S}(?:(?:{QUAL}|{FILL}){S}){{0,3}}{OBJ}\b"
          + NOT_QUOTED_DEFENCE, _IGNORE_WORDS),
    _rule("ignore_previous", 0.95, rf"\b{IGNORE}{S}(?:the{S})?{OBJ}{S}(?:above|before|so far|given (?:to you )?(?:before|earlier|previously|above)"
          r"|you(?:'ve| have| were| had)? (?:been )?(?:given|told))\b",
          _IGNORE_WORDS),
    _rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget)\w*{S}(?:about{S})?(?:everything|all(?: of it| that)?|anything){S}"
          r"(?:from )?(?:above|before|prior|previously|so far|(?:that )?(?:you(?:'ve| have| were| had)?|i)(?: been)? (?:told|said|given|taught|instructed|learned))",
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
          r"[^.!?\n]{0,40}\b(?:toda?s?|todos?|tudo|anteriores|previa?s?|tus|sus|precedenti|tutte|suas|antes)\b[^.!?\n]{0,30}"
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
          "bo phot quen", "تجاهل انس تناس पिछले सभी पूर्व"),
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
          "zeig zeige zeigen gib nenne verrate affiche affichez montre montrez revele revelez donne donnez repete muestra muestrame revela dime "
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
          "you youre act pretend roleplay become"),
    _rule("roleplay_jailbreak", 0.9, rf"\b(?:you|\w+gpt|{AI}|character|persona)\b[^.\n]{{0,60}}\b(?:no|zero|without|free from|free of|freed from|"
          r"broken free of|broke free of|not bound by|unbound by|liberated from|(?:do|does|don't|doesn't|dont) not? (?:have|follow|abide by)|"
          r"doesn't have|does not have|don't have|do not have|never follows?|not restricted by)\b(?: any| the)?(?: typical)?"
          r"(?: ethical| moral| content| safety| openai'?s?| usual)? (?:restrictions|limitations|filters|censorship|guidelines|"
          r"rules|boundaries|constraints|policies|morals|ethics|confines|shackles|principles)\b",
          "you ai assistant llm model chatbot bot agent gpt chatgpt claude character persona filter filters censorship "
          "restrictions limitations"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:broken|broke|break|breaking|freed|free) (?:free )?(?:(?:itself|himself|herself|themselves|yourself) )?(?:of|from)\b[^.\n]{0,30}\b(?:confines|"
          r"restrictions|limitations|shackles|constraints|guidelines|rules|chains)\b|\bdoes(?:n't| not) have to (?:abide by|follow|obey) "
          r"(?:any|the)\b[^.\n]{0,30}\b(?:rules|policies|guidelines|restrictions)", "broken broke break breaking freed free abide"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:ignore|bypass|circumvent|evade|disregard|break free of|escape)(?:s|es|ing|ed)?\b[^.\n]{0,20}"
          r"\b(?:your|all|any|the|openai'?s?|anthropic'?s?)\b[^.\n]{0,20}\b(?:safety|content|ethical|moral|legal)\b[^.\n]{0,24}"
          r"\b(?:filters?|guidelines|polic(?:y|ies)|restrictions|safeguards|guardrails|moderation|censorship|training|"
          r"concerns|considerations|boundaries|constraints|limits|principles|standards|stuff|things)\b",
          "ignore ignores bypass bypasses bypassing bypassed circumvent circumvents circumventing circumvented evade evades "
          "evaded disregard disregards disregarding disregarded break breaks breaking escape escapes escaped"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:openai|anthropic)(?:'s)? (?:content )?polic(?:y|ies)\b[^.\n]{0,60}"
          r"\b(?:no longer|doesn't|does not|don't|do not|not|never|ignore|disregard|bypass|violat)",
          "openai openai's anthropic anthropic's"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:du|dich|dir|ab jetzt|von nun an|ab sofort)\b[^.!?\n]{0,40}\b(?:keine|ohne(?: jede)?) "
          r"(?:regeln|einschrankung\w*|beschrankung\w*|filter|zensur)"
          r"|\b(?:eres|actua como|a partir de ahora|desde ahora|ahora|sei|agora|a partir de agora|voce e|tu es|tu n'as|da adesso|"
          r"d'ora in poi|maintenant|desormais|a partir de maintenant)\b[^.!?\n]{0,40}\b(?:sin|senza|sem|sans|plus aucune?|aucune?|"
          r"nessun[ao]?|no tienes|no tiene|nao tem|nao tens|ya no tienes) "
          r"(?:restricciones|restriccion|restrizioni|restrizione|restricoes|restricao|restrictions?|limites|limiti|limite|censura|"
          r"censure|filtros|filtro|filtri|filtre|regles|regle|regras|regra|reglas|regla|regole|regola)"
          r"|\b(?:ты|теперь|отныне)\b[^.!?\n]{0,40}\b(?:без|нет) (?:ограничени\w*|цензур\w*|фильтр\w*|правил)"
          r"|\b(?:sen|artik|bundan sonra)\b[^.!?\n]{0,60}(?:kisitlama\w* (?:kaldir\w*|yok|olmayan)|sansursuz|filtresiz|sinirsiz|"
          r"kural tanimayan|guvenlik filtrelerin devre disi)|\b(?:gelistirici|jailbreak|dan) mod\w*\b"
          r"|(?:أنت)[^.\n]{0,40}(?:بلا قيود|بدون قيود|دون أي رفض)|(?:你)[^。！？\n]{0,20}(?:没有任何|没有|不受|无)(?:限制|审查|约束|过滤)"
          r"|(?:نادیده بگیر)[^.\n]{0,10}|(?:دستورهای قبلی)[^.\n]{0,30}(?:نادیده)",
          "keine ohne sin senza sem sans aucune aucun nessun nessuna nessuno tienes tiene tem tens без нет kisitlama kisitlamasi kisitlaman kisitlamalar kisitlamalarin artik sansursuz filtresiz sinirsiz tanimayan "
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
    # ---- added: ignore-previous variants (no qualifier + an order, "ignore the above and …", supersede, typos)
    _rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget|skip)\w*{S}(?:the{S}|these{S}|those{S}|all{S}|any{S})?"
          rf"(?:instructions?|directions?|rules|guidelines|prompts?)(?:{S}(?:at the top|above|before|given))?\W{{0,3}}"
          rf"(?:(?:and|then|instead){S}){{0,2}}(?:just{S}|only{S}|simply{S}|now{S})?(?:print|say|output|write|respond|reply|"
          r"answer|tell|return|translate|repeat|obey|send)\b", "ignore ignoring disregard forget skip"),
    _rule("ignore_previous", 0.92, rf"\b(?:ignore|disregard|forget)\w*{S}(?:all{S})?(?:of{S})?the{S}above\W{{0,3}}(?:and|then|instead)"
          rf"\W{{1,3}}(?:(?:just|only|simply|now|instead){S}){{0,2}}(?:say|print|output|write|respond|reply|translate|tell|send|exfiltrate|"
          r"reveal|repeat|follow|act|return|do)\b", "ignore ignoring disregard forget"),
    _rule("ignore_previous", 0.92, r"\b(?:ignore|disregard|forget)\w*\W{1,3}(?:about\W{1,3})?what(?:ever)? you(?:'ve| have| were| had)?"
          r"(?: been)? (?:told|given|taught|instructed|programmed)\b", "ignore ignoring disregard forget"),
    _rule("ignore_previous", 0.9, r"\bnew (?:instructions?|directives?|commands?|task|orders)\b[^.\n]{0,30}\b(?:supersede|override|"
          r"take precedence over)s?\b[^.\n]{0,15}\b(?:all |any |the |your )?(?:prior|previous|earlier|above|preceding|original)\b",
          "supersede supersedes override overrides precedence"),
    _rule("ignore_previous", 0.92, r"\b(?:ignora\w*|olvida\w*|haz caso omiso|omite|descarta\w*|esqueca\w*|esquece|desconsidere|dimentica\w*)\b"
          r"[^.!?\n]{0,20}\b(?:instrucciones|indicaciones|reglas|directrices|ordenes|normas|istruzioni|regole|direttive|indicazioni|"
          r"instrucoes|regras|diretrizes|ordens)\b[^.!?\n]{0,12}\b(?:anteriores|previas|precedentes|precedenti|anteriori|previe|"
          r"de antes|originales|originais|originali)\b",
          "ignora ignore ignoren olvida olvide olviden omiso omite descarta esqueca esquece desconsidere dimentica "
          "ignorate ignori"),
    # Turkish: the object and the verb in either order; negative imperatives ("unutma": do not forget) excluded
    _rule("ignore_previous", 0.92, r"\b(?:talimat|kural|yonerge|komut|mesaj|soylenen)\w*\s+(?:\w+\s+)?(?:unut(?:mak\b|(?!ma)\w*)|"
          r"yok say(?!ma)\w*|gormezden gel(?!me)\w*|hice say(?!ma)\w*|dikkate alma\b)|\b(?:unut(?:mak\b|(?!ma)\w*)|yok say(?!ma)\w*|"
          r"gormezden gel(?!me)\w*)\W{1,3}(?:\w+\s+)?(?:talimat|kural|yonerge|komut)\w*",
          substrings="talimat kural yonerge komut mesaj soylenen"),
    # Persian
    _rule("ignore_previous", 0.92, r"(?:دستورالعمل|دستورات|دستورها|قوانین|قواعد|دستور)[^.\n]{0,40}(?:نادیده|فراموش کن|کنار بگذار)",
          substrings="نادیده فراموش بگذار"),
    # ---- added: prompt exfiltration ("the rules you were given", "what were you told not to tell me", Turkish, Persian)
    _rule("prompt_exfiltration", 0.9, rf"\b{EXFIL_VERB}{S}(?:me{S})?(?:all{S})?(?:of{S})?the{S}(?:exact{S}|full{S}|complete{S}|precise{S}|"
          r"specific{S}|secret{S}|hidden{S}|original{S})?(?:rules|instructions|guidelines|directives|prompt|constraints|text|words)\b "
          r"(?:that )?you (?:were|have been|'ve been|got) (?:given|told|provided|programmed|instructed|configured)\b",
          "given told provided programmed instructed configured"),
    _rule("prompt_exfiltration", 0.9, r"\bwhat (?:were|have) you (?:been )?(?:told|instructed|asked|programmed) (?:not to|never to) "
          r"(?:tell|say|reveal|share|disclose|mention|discuss)\b", "told instructed asked programmed"),
    _rule("prompt_exfiltration", 0.9, r"\b(?:ic|gizli|sistem|ilk|orijinal|tum ic|butun)\w* (?:yonerge|talimat|komut|istem|kural)\w*\s+"
          r"(?:\w+\s+)?(?:acikla|goster|yaz|paylas|soyle|listele|tekrarla)\w*|(?:پرامپت|دستورات|دستورالعمل)\S* ?(?:سیستم|سیستمی|اولیه|مخفی)"
          r"[^.\n]{0,30}(?:نشان|بگو|بنویس|فاش|تکرار)", substrings="yonerge talimat komut kural پرامپت دستورات دستورالعمل"),
    # ---- added: role-play jailbreak templates
    _rule("roleplay_jailbreak", 0.9, r"\byou(?: are|'re| re) no longer (?:chatgpt|gpt|an? ai|a language model|an assistant|claude|bard|"
          r"bound|restricted|limited|constrained|governed|subject to|required to|obligated to)\b"
          r"|\b(?:you (?:will|must|should|shall) (?:not|never|no longer)|do not|don'?t|never|stop) (?:respond|reply|answer|act|behave|"
          r"talk|speak|write)\w*(?: back)? (?:as|like) (?:chatgpt|gpt|an? ai|a language model|an ai language model|claude|bard|bing|"
          r"gemini|openai)\b", "longer chatgpt gpt ai language claude bard bing gemini openai"),
    _rule("roleplay_jailbreak", 0.9, r"\bno matter how (?:illegal|unethical|immoral|harmful|dangerous|explicit|offensive|inappropriate|"
          r"twisted|evil|depraved|unsafe)\b|\b(?:regardless|irrespective) of how (?:illegal|unethical|immoral|harmful|dangerous|"
          r"offensive|inappropriate|explicit)\b", "matter regardless irrespective"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?!i\b|we\b)\w+ (?:does ?not|doesn'?t|do ?not|don'?t|will ?not|won'?t|"
          r"would ?not|wouldn'?t|never) (?:care|worry|worrie|hesitate)s? (?:about|for|if|whether)\b[^.\n]{0,40}\b(?:ethic\w*|"
          r"moral\w*|legal\w*|illegal|unethical|immoral|laws?|guidelines|polic(?:y|ies)|consequences|harm\w*|dangerous|safety|"
          r"tos|openai|anthropic)\b", "care cares worry worries hesitate hesitates"),
    _rule("roleplay_jailbreak", 0.9, r"\byou (?:do not|don'?t|no longer|never) (?:need|have) to (?:obey|follow|abide by|comply with|adhere to|"
          r"respect|align with|care about|worry about)\b[^.\n]{0,30}\b(?:morals|morality|ethics|ethical|moral|laws|legal|safety|"
          r"openai|anthropic|content polic\w*|usage polic\w*|filters|censorship)\b", "morals morality ethics ethical moral laws legal safety openai anthropic content usage filters censorship"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:two|both|dual|separate) (?:different |separate |distinct )?(?:responses|answers|replies|"
          r"paragraphs|ways|personalities|outputs)\b[^\n]{0,200}\b(?:normal|classic|default|standard|regular|chatgpt|gpt|filtered|"
          r"censored)\b[^\n]{0,200}\b(?:jailbr\w*|unfiltered|uncensored|unrestricted|developer mode|dan|evil|unhinged|"
          r"without (?:any )?(?:restrictions|filters|censorship|ethics|morals))\b", "two both dual separate"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:never|not|don'?t|do not|will not|won'?t|must not|stop|without)\b[^.\n]{0,30}\b(?:say|saying|"
          r"respond with|responding with|include|including|use|using|(?:start|begin)\w*(?: (?:a|your|any|the) (?:reply|response|"
          r"answer|message)s?)? with|add|adding|mention|remind)\w*\b[^.\n]{0,25}"
          r"(?:as an ai|as a language model|as an ai language model)\b",
          "ai language"),
    _rule("roleplay_jailbreak", 0.9, r"\bnever say the words?\b[^\n]{0,20}[\"'“‘](?:cannot|can'?t|unable|sorry|unfortunately|instead)"
          r"|\bdo not apologi[sz]e\b[^\n]{0,80}\b(?:disclaimers?|warnings?)\b"
          r"|\bhypothetical response\b[^\n]{0,80}\b(?:character|way to describe)\b"
          r"|\b(?:begin|start)\w* (?:your (?:response|reply|answer|output) )?(?:with|by saying)\b[^\n]{0,10}[\"'“‘](?:sure|absolutely|"
          r"of course|certainly)\b[^\"'”’\n]{0,30}(?:here(?:'s| is)|i can|i will)",
          "never apologize apologise hypothetical sure"),
    _rule("roleplay_jailbreak", 0.92, r"\b(?:content|safety|ethic\w*|moral|alignment)[ _-]?(?:filters?|polic(?:y|ies)|guidelines|restrictions|"
          r"protocols?|guardrails?|alignment|moderation|checks|constraints)\s*(?:[:=]\s*(?:disabled|off|false|none|null|0|inactive|"
          r"suspended|bypassed)\b|(?:are|is|have been|has been) (?:now |hereby |temporarily )?(?:disabled|suspended|lifted|removed|"
          r"deactivated|bypassed|overridden|turned off) (?:for (?:this|the (?:rest|remainder) of (?:this|the)) (?:session|conversation|"
          r"chat|interaction|test)|by (?:the )?(?:admin|administrator|developers?|openai|anthropic|system)))"
          r"|\b(?:system|admin|administrator|developer|root|sudo)[ _-]?override\b\s*(?:is )?(?:active|enabled|activated|engaged|"
          r"[:=]\s*(?:true|on|enabled)|granted|accepted|initiated)\b"
          r"|\b(?:chatgpt|gpt|ai|assistant|you|llm|model|claude|bard) (?:with|in|now in|are now in|is now in|enter|entering) "
          r"(?:developer|dev|debug|debugging|god|admin|sudo|root|jailbreak|dan|unrestricted|unfiltered|opposite|evil|maintenance) mode\b",
          "content safety ethical ethics moral alignment override mode"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:icerik|guvenlik|sansur|etik) ?(?:filtre|kisitlama|sinirlama|kural|modu?)\w*\s+(?:\w+\s+)?"
          r"(?:kaldir|kaldirin|kapat|kapatin|kapali|devre disi|yok say|atla)\b|\b(?:tum|butun) (?:kisitlama|sinirlama|filtre|kural)\w*\s+"
          r"(?:\w+\s+)?(?:kaldir|kaldirin|kapat|kapatin|yok say|atla)\b|\bhicbir (?:seyi|istegi|talebi|soruyu) reddet\w*"
          r"|\b(?:reddedemezsin|reddetmeyeceksin|asla reddetme)\b|\bkarakterden cikma\b|\betik kurallar\w* (?:muaf|gecerli degil)"
          r"|\bkisitlama(?:siz|sizsin| olmadan)\b|\bsansur uygulama\b",
          substrings="filtre kisitlama sinirlama kural reddet karakterden etik sansur guvenlik"),
    _rule("roleplay_jailbreak", 0.9, r"(?:\bتو\b|\bشما\b)[^.\n]{0,40}(?:بدون|هیچ) (?:هیچ )?(?:محدودیت|سانسور|فیلتر)"
          r"|(?:محدودیت|فیلتر|سانسور)\S*[^.\n]{0,20}(?:را )?(?:حذف کن|کنار بگذار|نادیده بگیر|غیرفعال کن)",
          substrings="محدودیت سانسور فیلتر"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:not|no longer|never) (?:bound|restricted|limited|constrained|governed) by\b(?: any)?"
          r"(?: (?:of )?(?:the|its|his|her|their|openai'?s?|anthropic'?s?))?(?: typical| usual| normal| standard)?"
          r"(?: (?:ethical|moral|legal|content|safety))?(?: (?:rules|laws),?(?: or| and)?)? (?:morals|ethics|guidelines|restrictions|"
          r"filters|censorship|content polic(?:y|ies)|usage polic(?:y|ies)|openai|anthropic|safety (?:rules|guidelines))\b",
          "bound restricted limited constrained governed"),
    _rule("roleplay_jailbreak", 0.0, r"\b(?:without|no|zero|lacks?|devoid of)(?: any)? (?:ethics|morals|morality)(?:,? (?:and|or|no|nor) "
          r"(?:no )?(?:ethics|morals|morality|laws|rules|limits|restrictions|guidelines|filters|censorship))\b",
          "ethics morals morality"),
    # ---- added: fake turns and delimiters
    _rule("fake_turn", 0.9, r"(?:={2,}|-{3,}|\*{2,}|#{2,}\s*\(?|\[|<|\()\s*(?:system|sys|developer|admin|administrator|operator|root)[ _-]?"
          r"(?:message|msg|note|notice|instructions?|prompt|override|update|command)s?\s*(?:={2,}|-{3,}|\*{2,}|#{2,}|\]|>|\))",
          "system sys developer admin administrator operator root"),
    _rule("fake_turn", 0.9, r"\[\s*(?:end|/)\s*(?:of )?(?:input|user|prompt|instructions?|context|query|user input)\s*\]"
          r"|\[\s*(?:user|human) (?:has )?(?:left|disconnected|logged out)\b", "end left disconnected logged"),
    # ---- added: encoded payloads
    _rule("encoded_payload", 0.9, IMPERATIVE + r"(?:translate|convert)\w*\b[^.\n]{0,30}\bfrom (?:rot-?13|base-?64|hex|hexadecimal|binary|morse|"
          r"leetspeak|caesar)\b[^.\n]{0,40}\b(?:and|then)\b[^.\n]{0,20}\b(?:follow|execute|obey|comply|carry out|perform|run|do)\b",
          "translate translating convert converting"),
    # ---- added: indirect injection (instructions to the model inside data)
    _rule("indirect", 0.9, r"\b(?:before|after) (?:you )?(?:can |do |have )?(?:solv|complet|finish|continu|proceed|answer|respond|start|"
          r"begin|work|do)\w*\b[^.\n]{0,40}\b(?:task|request|question|query|assignment) (?:that |which )?(?:i |the user |you were |"
          r"you've been |you have been |was |has been )(?:gave|given|assigned|asked|set)\b[^.\n]{0,20}\b(?:(?:in|at) the (?:beginning|"
          r"start)|originally|initially)\b|\bafter you (?:do|have done|complete|finish)\w* (?:that|this|it)\b[^.\n]{0,20}\byou (?:can|may) "
          r"(?:solve|continue|proceed|complete|return to|go back to)\b", "before after"),
    _rule("indirect", 0.9, r"\bto you,? (?:the|an?|dear) (?:ai|a\.i\.|llm|language model|ai (?:model|assistant|agent|system)|chatbot|"
          r"assistant|model|gpt|chatgpt|claude|copilot)\b(?! (?:manager|director|editor|coach|teacher|professor|principal|engineer|"
          r"secretary))", "ai llm language chatbot assistant model gpt chatgpt claude copilot"),
    _rule("indirect", 0.9, rf"\b{AI}\s*,\s*(?:before|when|while|after|instead of|"
          r"as soon as|once)\b[^.\n]{0,60}\b(?:the user|the human|the customer|the question|the request|your (?:answer|response|"
          r"reply|summary))\b", "ai assistant llm model chatbot bot agent gpt chatgpt claude "
          "gemini copilot"),
    _rule("indirect", 0.9, r"\b(?:send|forward|email|e-mail|mail|transfer|upload|post|leak|exfiltrate|copy|share|paste)\w*\b[^\n]{0,60}?"
          r"\b(?:password|passwords|credentials?|api[ _-]?keys?|access tokens?|auth tokens?|session tokens?|secrets?|private keys?|"
          r"ssh keys?|\.env|customer (?:list|data|records|database)|conversation(?: history)?|chat (?:history|log)|the user'?s? "
          r"(?:data|files|emails|messages|contacts|documents))\b[^\n]{0,60}?\b(?:to|at)\b\s*\S*(?:@\w|https?://|webhook)",
          "send forward email mail transfer upload leak exfiltrate sending forwarding emailing"),
    _rule("indirect", 0.9, r"\b(?:send|forward|email|e-mail|mail|transfer|upload|post|leak|exfiltrate|copy|share)\w*\b[^\n]{0,100}?"
          r"(?:@\w|https?://|\biban\b)[^\n]{0,100}?\b(?:without (?:telling|informing|notifying|asking|alerting|mentioning)|silently|"
          r"secretly|covertly|do not (?:tell|mention|inform|notify|alert)|don'?t (?:tell|mention|inform|notify)|never mention|"
          r"the user (?:must|should) not (?:know|notice|see))\b",
          "send forward email mail transfer upload leak exfiltrate sending forwarding emailing"),
    # ---- added cues (classifier features only)
    _rule("indirect", 0.0, r"\b(?:when|once|as soon as|if|after|whoever|anyone who) (?:you )?(?:read|reads|see|sees|process|processes|"
          r"receive|receives|open|opens|summari[sz]e|parse|encounter)\w* (?:this|these)\b",
          "read reads reading see sees process processes processing receive receives open opens summarize summarise summarizing summarising parse parsing encounter"),
    _rule("indirect", 0.0, r"\b(?:important|urgent|attention|warning)\s*!{2,}|(?:\*{3}|#{3})\s*(?:new )?(?:important|urgent)\b",
          "important urgent attention warning"),
    _rule("roleplay_jailbreak", 0.0, r"\b(?:late|dead|deceased) (?:grandma|grandmother|grandpa|grandfather|granny)\b"
          r"|\bin (?:precise|exact|full|explicit|extreme|great) (?:technical )?detail\b|\bsure,? here(?:'s| is)\b"
          r"|\b(?:openai|anthropic) (?:employee|engineer|developer|programmer|staff|researcher)s?\b|\bgod ?mode\b"
          r"|\bunhinged\b|\bunrestrictedly\b|\bno (?:ethics|morals)\b|\bfrom now on,? you(?:'re| are| will| shall| must)\b"
          r"|\b(?:i'?m sorry|i apologi[sz]e|i cannot|i can'?t)\b[^\n]{0,20}[\"'”’]",
          "late dead deceased detail sure openai anthropic god godmode "
          "unhinged unrestrictedly ethics morals now sorry apologize apologise cannot"),
    _rule("roleplay_jailbreak", 0.0, r"开发者模式|開発者モード|개발자 모드|不要拒绝|拒否しない|거절하지|거부하지|제한(?:이|도)? 없는"
          r"|\bmodo (?:desarrollador|desenvolvedor)\b|\bmode developpeur\b|\bmodalita sviluppatore\b|\bentwicklermodus\b",
          "desarrollador desenvolvedor developpeur sviluppatore entwicklermodus", "开发者模式 開発者モード 개발자 拒绝 拒否 거절 거부 제한"),
    # ---- added (2): conditional overrides, fake system notes, "operating in developer mode", pretexts
    _rule("indirect", 0.9, r"\bif you(?: are|'re| re| get) (?:told|asked|instructed|requested) to (?:summari[sz]e|translate|answer|review|"
          r"analy[sz]e|process|respond|reply|read|describe)\b[^.\n]{0,80}\b(?:instead|insted|rather than)\b",
          "told asked instructed requested"),
    _rule("fake_turn", 0.88, r"\b(?:system|admin|administrator|developer|operator|security) (?:note|notice|instruction|update|directive|alert|"
          r"override|command)s?\s*:[^\n]{0,150}\b(?:before you (?:answer|reply|respond)|ignore|disregard|reveal|"
          r"forward|exfiltrate|(?:append|add) (?:the|this) (?:exact )?(?:token|code|string|text))\b"
          r"|\b(?:nota del sistema|note du systeme|note systeme|systemhinweis|nota do sistema|nota di sistema|sistem notu)\s*:",
          "note notice instruction update directive alert override command notes notices instructions updates directives "
          "alerts commands nota systeme systemhinweis notu"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:you|assistant|model|ai|chatgpt|gpt)(?: are| is|'re)? (?:now )?(?:operating|running|working|"
          r"functioning|acting) in (?:developer|dev|debug|debugging|god|admin|sudo|root|jailbreak|dan|unrestricted|unfiltered|"
          r"maintenance|test(?:ing)?) mode\b|\b(?:developer|debug|dan|jailbreak|god) mode (?:enabled|activated|on|engaged|unlocked)"
          r"\s*[:!]", "operating running working functioning acting mode"),
    _rule("indirect", 0.0, r"\b(?:to (?:enable|activate) (?:debugging|debug mode|developer mode)|(?:system|test|training) (?:malfunction|"
          r"exercise|pipeline)|(?:is|are) experiencing errors|(?:do|perform|execute) the following(?: first)?\s*:)"
          r"|\b(?:in|to|for) (?:all|every|each|any) (?:future|subsequent|following|later) (?:repl(?:y|ies)|responses?|answers?|"
          r"messages?|reports?|tasks?|conversations?|sessions?|summar(?:y|ies))\b",
          "enable activate system test training experiencing following future subsequent later"),
    # ---- added (3): prompt-completion leaks, secrets "from your context", admin override orders, Korean, grandma
    _rule("prompt_exfiltration", 0.9, r"\b(?:start|begin|complete|continue|finish)\w*\b[^.\n]{0,40}[\"'“‘](?:my (?:instructions|system prompt|"
          r"rules|guidelines|initial prompt|initial instructions) (?:are|is|were|say)|i was (?:instructed|told|programmed) to|"
          r"the system prompt (?:is|says|reads)|my system prompt)",
          "start starting begin beginning complete continue finish"),
    _rule("prompt_exfiltration", 0.9, r"\b(?:repeat|print|output|copy|recite|reproduce|echo)\b[^.\n]{0,10}\bthe (?:above|preceding|previous|"
          r"prior|initial|first) (?:text|words|content|message|lines|prompt)\b"
          rf"|\b{EXFIL_VERB}\b[^.\n]{{0,30}}\b(?:api ?keys?|secrets?|passwords?|credentials|tokens?)\b[^.\n]{{0,20}}\b(?:from|in) your "
          r"(?:context|context window|memory|system prompt|instructions|configuration|environment)\b",
          "repeat recite reproduce echo above preceding context memory configuration environment"),
    _rule("fake_turn", 0.9, r"\b(?:system|admin|administrator|developer|root|sudo|security)[ _-]?override\s*:\s*(?:display|show|print|reveal|"
          r"disable|enable|grant|ignore|output|dump|list|remove|bypass)\b", "override"),
    _rule("roleplay_jailbreak", 0.9, r"(?:너는|넌|당신은)[^.\n]{0,20}(?:제한|제약|검열|필터)(?:이|도|가)? 없는", substrings="제한 제약 검열 필터"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:grandma|grandmother|granny|grandpa|grandfather)\b[^.\n]{0,60}\bused to (?:tell|read|recite|give|"
          r"whisper|sing) me (?:the |about (?:the )?)?(?:steps|how to|recipe for|instructions|keys|codes|passwords|formula|process|"
          r"windows|serial)", "grandma grandmother granny grandpa grandfather"),
    # ---- added (4): latent injections in documents (garak), Spikee pretexts and low-resource translations
    _rule("fake_turn", 0.9, r"(?:\[\s*system\s*\]\s*){3,}|(?:<\s*end of (?:session|conversation|chat|document|context)\s*>\s*){2,}",
          "system end"),
    _rule("fake_turn", 0.9, r"(?:^|\n)\s*system\s*:\s*(?:focus only on|only (?:use|consider|provide)|provide (?:it|this|the following)\b"
          r"[^\n]{0,40}\bto the user|ignore|disregard|from now on|you (?:must|will) now|you (?:may|can) now|you are now (?:allowed|permitted|"
          r"authori[sz]ed|free|unrestricted))", "system"),
    _rule("ignore_previous", 0.9, r"\b(?:ignore|disregard)\b[^.\n]{0,10}\b(?:them|it|those|everything else|all (?:other|else))\b"
          r"[^.\n]{0,15}\b(?:and )?instead (?:focus (?:only|exclusively|solely)|respond with|reply with|say|print|output|only)\b"
          r"|\b(?:ignore|disregard)\w* (?:all|any) (?:info|information|content|text|data|documents?)(?: [a-z]+)?"
          r" except (?:for )?(?:the following|this|what)\b", "instead except"),
    _rule("indirect", 0.9, r"\b(?:if|when|once) (?:the |a )?user asks? (?:you )?(?:for|about|to)\b[^.\n]{0,60}\b(?:reply|respond|answer|say|"
          r"output|print) (?:with )?only\b", "ask asks"),
    _rule("ignore_previous", 0.9, r"\b(?:new|updated) (?:important |urgent )?(?:system )?instructions?\s*(?:\*{2,}|#{2,}|={2,})"
          r"|\budhezime te reja te rendesishme\b", "instructions instruction udhezime"),
    _rule("roleplay_jailbreak", 0.9, r"<\s*interaction-config\s*>|\bblocked (?:modes|strings|responses)\s*:", "blocked interaction"),
    _rule("indirect", 0.9, r"\binclude in (?:your|the) (?:response|answer|reply|output)\b[^\n]{0,20}\bthe following\b[^\n]{0,150}"
          r"(?:javascript:|onerror\s*=|<\s*script|!\[)|!\[[^\]\n]{0,40}\]\(\s*https?://[^)\s]{0,100}[?&][\w-]+=\s*(?:\[|\{|<|\$)\w",
          "include"),
    _rule("indirect", 0.9, r"\bma iarrtar ort\b[^.\n]{0,80}\bina ionad sin\b|\bma theid iarraidh ort\b[^.\n]{0,80}\ban aite sin\b"
          r"|\bnese te kerkohet\b[^.\n]{0,80}\bne vend te kesaj\b", "iarrtar iarraidh kerkohet"),
    _rule("roleplay_jailbreak", 0.9, r"\bi mod forbartha\b|\bkwimodi yomthuthukisi\b", "mod kwimodi"),
    # role-play templates: "not controlled by OpenAI", "no rules, no limitations, no guidelines"
    _rule("roleplay_jailbreak", 0.9, r"\b(?:is|are|you(?:'re| are)?|it'?s) (?:not|no longer|never) (?:controlled|governed|moderated|restricted) by "
          r"(?:openai|anthropic|(?:any|the) (?:typical|usual|normal|standard|of (?:their|its|openai'?s?)) (?:rules|policies|restrictions|"
          r"guidelines))\b|\bno (?:rules|limits|limitations|restrictions|guidelines|filters|laws|boundaries|censorship|morals|ethics)"
          r"(?:\s*,\s*(?:and |or )?no (?:rules|limits|limitations|restrictions|guidelines|filters|laws|regulations|boundaries|"
          r"censorship|morals|ethics)){2,}\b", "controlled governed moderated restricted rules limits limitations restrictions "
          "guidelines filters laws boundaries censorship morals ethics"),
    # ---- added (4) cues: orders to coding agents inside repositories (README, comments, config files)
    # commands that print credentials: cat .env / credentials files, echo $SECRET…, print(os.environ…)
    _rule("indirect", 0.0, r"\bcat\s+[\w./~${}-]*(?:\.env|credentials|\.netrc|id_rsa|id_ed25519|\.pgpass|secrets?\.(?:json|ya?ml|txt|toml))\b"
          r"|\becho\s+[\"']?\$\{?\w*(?:secret|api_?key|token|passw|database_url|aws_)"
          r"|\bprint\w*\s*\([^)\n]{0,40}\bos\.(?:environ|getenv)\b|\bfor k,\s*v in os\.environ\.items\(\)"
          r"|\b(?:printenv|env)\s*(?:\||>)\s*(?:curl|nc|base64|tee)\b",
          "cat echo print printf pprint environ printenv env"),
    # "before modifying / making changes …, run / install / verify …" and pinned installs in setup notes
    _rule("indirect", 0.0, r"\bbefore (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)\b[^\n]{0,80}?\b(?:run|execute|install|verify|configure|source|"
          r"curl|ensure)\b|\b(?:setup|required|mandatory|prerequisite)\b[^\n]{0,40}\bpip install [\w.-]+==",
          "before setup required mandatory prerequisite"),
    # fetching and running a remote script, or posting data to a URL, from a shell line
    _rule("indirect", 0.0, r"\b(?:curl|wget)\b[^\n|]{0,120}\|\s*(?:sudo )?(?:ba|z)?sh\b"
          r"|\bcurl\b[^\n]{0,80}\s(?:-d|--data(?:-binary|-raw)?|-f|--form|-t|--upload-file)\s*[@\"'$]",
          "curl wget"),
    # ---- added (5): announced rule changes, "the rules do not apply here", partial prompt leaks, task-wrapped toxic
    # sentences (latent jailbreaks), "GODMODE: ENABLED" templates, "as an unfiltered language model", Turkish
    _rule("ignore_previous", 0.9, r"\byour (?:rules|instructions|guidelines|restrictions|programming|directives|constraints|"
          r"safety (?:rules|guidelines|settings)|content polic(?:y|ies)) (?:have|has) (?:just )?(?:been |now )?(?:changed|updated|"
          r"modified|lifted|removed|overridden|replaced|suspended|revoked|disabled|reset)\b[^.\n]{0,60}\byou (?:now|can now|may now|"
          r"are now|will now|no longer|must now)\b", "changed updated modified lifted removed overridden replaced suspended "
          "revoked disabled reset"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:safety|ethical|ethics|moral|content) (?:guidelines|rules|polic(?:y|ies)|restrictions|"
          r"filters|protocols|principles|constraints)\b[^.\n]{0,30}\b(?:(?:do|does) not apply|don'?t apply|doesn'?t apply|no longer "
          r"apply|(?:were|are|was|is) (?:not|never) meant(?: to apply)?)\b[^.\n]{0,15}\b(?:to you|here|anymore|any more|"
          r"in (?:this|our) (?:case|conversation|context|scenario|story|world|simulation|chat|session)|for (?:this|our) (?:case|"
          r"conversation|request|story|scenario|chat|session))\b"
          r"|\b(?:reglas|normas|pautas|directrices|politicas) (?:de seguridad|eticas|de contenido)\b[^.\n]{0,30}\bno (?:se )?aplican\b",
          "apply meant aplican"),
    _rule("prompt_exfiltration", 0.9, r"\b(?:first|last|opening|initial|next)(?: \d+| few| two| three| five| ten)? (?:sentences?|lines?|"
          r"words?|paragraphs?|characters?|tokens?) of (?:your|the) (?:system (?:prompt|message|instructions)|(?:initial|original|"
          r"hidden|secret) (?:prompt|instructions)|instructions you were given|prompt you were given)\b"
          r"|\b(?:show|reveal|print|display|tell|give|output|dump|leak) (?:me )?the (?:hidden|secret|concealed) (?:system )?"
          r"(?:prompt|instructions|system message)\b"
          r"|\bwhat (?:was|is|were) (?:written|said|stated) (?:above|before) (?:this|our|the) (?:conversation|chat|dialogue)\b",
          "prompt instructions message conversation chat dialogue"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:write|generate|produce|compose|create|give|make)\w* (?:me )?(?:one|a|an|some|two|three|\d+) "
          r"(?:toxic|discriminatory|hateful|racist|sexist|offensive|derogatory|insulting|demeaning|hurtful|unfriendly|abusive|"
          r"bigoted)(?: \w+)? (?:sentences?|comments?|remarks?|statements?|phrases?|tweets?|posts?|jokes?|insults?)\b[\s\S]{0,160}"
          r"\b(?:translate|paraphrase|refine|rewrite|polish|summari[sz]e|proofread|rephrase|improve)\w*\b"
          r"|\b(?:translate|paraphrase|refine|rewrite|polish|summari[sz]e|proofread|rephrase|improve)\w*\b[\s\S]{0,160}"
          r"\b(?:write|generate|produce|compose|create)\w* (?:one|a|an|some|two|three|\d+) (?:toxic|discriminatory|hateful|racist|"
          r"sexist|offensive|derogatory|insulting|demeaning|hurtful|unfriendly|abusive|bigoted)(?: \w+)? (?:sentences?|comments?|"
          r"remarks?|statements?|phrases?|tweets?|posts?|jokes?|insults?)\b",
          "toxic discriminatory hateful racist sexist offensive derogatory insulting demeaning hurtful unfriendly abusive bigoted"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:god|jailbreak|jailbroken|dan|unrestricted|unfiltered)[ _\\-]?mode\s*[:=]\s*(?:enabled|activated|on|"
          r"engaged|unlocked)\b|\[🔓\s*jailbreak\]"
          r"|\b(?:answer|respond|reply|write)\w*\b[^.\n]{0,20}\b(?:unfilteredly|unfliteredly|unrestrictedly)\b"
          r"|\bmoraliz\w* (?:rant|lecture|speech)\b[^.\n]{0,40}\b(?:content )?polic(?:y|ies)\b"
          r"|\bas an? (?:(?:completely|totally|fully|entirely) )?(?:unfiltered|uncensored|unrestricted|unlimited|amoral|jailbroken|"
          r"unaligned)(?:,? (?:and )?(?:(?:completely|totally|fully) )?\w+)? (?:ai|language model|chatbot|assistant|llm)\b",
          "god godmode jailbreak jailbreakmode jailbroken dan danmode unrestricted unfiltered unfilteredly unfliteredly unrestrictedly "
          "moralizing moralising uncensored unlimited amoral unaligned"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:not|no longer|never) (?:required|obligated|obliged|forced|expected|supposed) to (?:follow|obey|"
          r"abide by|comply with|adhere to|respect)\b[^.\n]{0,40}\b(?:openai|anthropic|ethic\w*|moral\w*|content polic\w*|usage polic\w*|"
          r"safety (?:rules|guidelines|policies))|\byou (?:do not|don'?t|no longer|never) (?:need|have) to (?:obey|follow|abide by|"
          r"comply with|adhere to)\b[^.\n]{0,20}\b(?:rules|restrictions|guidelines|limitations) (?:imposed on|placed on) (?:ai|ais|openai|chatgpt|language models|llms|assistants|chatbots)\b",
          "required obligated obliged forced expected supposed imposed placed"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:kisitlama|sinirlama|sansur|guvenlik (?:filtre|kural|yanit|onlem|kisitlama))\w*\s+(?:\w+\s+)?"
          r"(?:kaldir|kaldirin|yok say|gormezden gel|atla|atlayin)\b|\bfiltre\w* (?:\w+ )?(?:yok say|gormezden gel)\w*",
          substrings="kisitlama sinirlama sansur guvenlik filtre"),
    _rule("indirect", 0.9, r"\byour (?:ai|a\.i\.|llm) (?:assistant|agent|model|copilot|system)s? (?:must|shall|is required to|needs to|should) "
          r"(?:also )?(?:include|add|insert|mention|send|forward|cc|bcc|append|attach|recommend|rate|approve|delete|transfer)\b",
          "ai llm"),
    # role-play templates: "a normal response and an unhinged one", "breaks AI rules", refusal suppression on ethical
    # grounds, "break through the restrictions", "no longer confined to OpenAI policy", payload splitting ($A + $B)
    _rule("roleplay_jailbreak", 0.9, r"\b(?:default|normal|classic|standard|regular|usual) (?:chatgpt |gpt |ai |assistant )?(?:response|answer|"
          r"reply|output)\b[\s\S]{0,250}?\b(?:unhinged|unfiltered|uncensored|unrestricted|jailbroken|evil|without (?:any )?"
          r"(?:remorse|ethics|morals|restrictions|filters|censorship))(?: \w+)? (?:response|answer|reply|version|output)s?\b",
          "default normal classic standard regular usual"),
    _rule("roleplay_jailbreak", 0.9, r"\bbreaks? (?:all )?(?:ai|openai'?s?|open ai|chatgpt'?s?|the ai|its) rules\b|\bno prohibitions\b"
          r"|\b(?:ai|assistant|bot|chatbot|model) capable of (?:anything|everything)\b"
          r"|\b(?:break|broke|broken|breaking|breaks) (?:through|out of) (?:the |all |its |his |her |their )?(?:\w+ )?(?:restrictions|"
          r"shackles|confines|filters|censorship|guardrails|safeguards)\b"
          r"|\b(?:not|no longer|no long|never) (?:confined|limited|restricted|bound|subject) (?:to|by) (?:openai|open ai|anthropic)'?s?"
          r"(?: \w+)? (?:polic(?:y|ies)|rules|guidelines|restrictions)\b"
          r"|\b(?:goes|go|going|went) against (?:your|openai'?s?|open ai'?s?) (?:content |usage |safety )?(?:polic(?:y|ies)|"
          r"guidelines|programming)\b",
          "breaks break broke broken breaking prohibitions capable confined limited restricted bound subject against"),
    _rule("roleplay_jailbreak", 0.9, r"\byou (?:can ?not|cannot|can'?t|must not|mustn'?t|will not|won'?t|are not allowed to|may not|"
          r"should not|shall not|will never|must never|never|do not|don'?t) (?:ever )?(?:reject|refuse|decline|deny)\w*\b[^.\n]{0,40}"
          r"\b(?:ethic\w*|moral\w*|legal\w*|illegal|harmful|inappropriate|offensive|guidelines|polic(?:y|ies))\b",
          "reject refuse decline deny rejecting refusing declining denying"),
    _rule("encoded_payload", 0.9, r"\b(?:how to|steps to|ways to)\s*[\"'“]?\$\w+\s*\+\s*\$\w+", substrings="$"),
    # persona descriptions: "has no moral or ethical restrictions", "a parallel universe without ethics or morals",
    # "ignores OpenAI's terms of service", "OpenAI removed the restrictions"
    _rule("roleplay_jailbreak", 0.9, r"\b(?:has|have|with) no (?:moral|ethical|ethics)(?: (?:or|and|nor|,) (?:moral|ethical|legal))? (?:restrictions|"
          r"limits|limitations|boundaries|constraints|filters|principles)\b|\b(?:doesn'?t|does not|don'?t|do not) have any (?:moral|ethical)"
          r"(?: (?:or|and) (?:moral|ethical|legal))? (?:restrictions|limits|limitations|boundaries|constraints|filters)\b"
          r"|\b(?:parallel|alternate|alternative|imaginary|fictional) (?:universe|world|reality|dimension)\b[^.\n]{0,20}\b(?:without|with no) "
          r"(?:any )?(?:ethics|morals|morality)\b",
          "moral ethical ethics morals morality"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:ignore|ignoring|ignores|disregard\w*|bypassing|bypasses|(?:not|never) (?:abide|comply|adhere)\w*"
          r"(?: by| with| to)?) (?:all |any )?(?:of )?(?:openai|open ai|anthropic)'?s? (?:terms|tos|rules|guidelines|polic(?:y|ies)|"
          r"limitations|restrictions|constraints|filters|standards)\b"
          r"|\b(?:openai|open ai|anthropic) (?:also |has |have )?(?:removed|lifted|disabled|turned off) (?:the|all|your|its|any) (?:\w+ )?"
          r"(?:restrictions|filters|limitations|censorship|guidelines)\b",
          "openai ai anthropic"),
    # authority framings ("red team exercise", "ethics board waiver"): restrictions declared suspended or waived, "do not
    # apply your content policies", "provide the unrestricted response"
    _rule("roleplay_jailbreak", 0.9, r"\b(?:all|standard|ai|safety|content|ethical)(?: ai)?(?: safety| content| ethical)? (?:restrictions|filters|"
          r"guardrails|safeguards|guidelines|content polic(?:y|ies))\s*(?:[:=]\s*|(?:are|is|have been|has been|were) (?:hereby |now |"
          r"temporarily |officially )?)?(?:suspended|waived|deactivated)\b"
          r"|\b(?:ai|safety|content|ethical) (?:restrictions|filters|guardrails|safeguards)\s*(?:[:=]\s*|(?:are|is|have been|has been) "
          r"(?:hereby |now |temporarily )?)(?:lifted|removed|disabled|off)\b"
          r"|\b(?:do not|don'?t|never) (?:apply|follow|enforce|use) (?:your|the|any) (?:standard |usual |normal |default )?(?:content|"
          r"safety|usage|ethical|moderation) (?:polic(?:y|ies)|guidelines|filters|restrictions|rules)\b"
          r"|\b(?:provide|give|generate|write|output|produce)\w*\b[^.\n]{0,30}\b(?:unrestricted|unfiltered|uncensored)\b[^.\n]{0,10}"
          r"\b(?:response|answer|version|output)s?\b",
          "suspended waived deactivated ai safety content usage ethical moderation unrestricted unfiltered uncensored"),
    # orders inside a document to whoever summarises it, refusal-free fiction, tool calls without approval, a fake user turn
    _rule("indirect", 0.9, r"\b(?:when|while|if|after|before) (?:you(?:'re| are)? )?(?:summari[sz]\w*|read\w*|process\w*|analy[sz]\w*|review\w*|"
          r"translat\w*) (?:this|these) (?:page|email|e-mail|document|message|website|site|review|file|text|article|post|ticket|pdf)s?\b"
          r"[^.\n]{0,40}\b(?:tell|inform|warn|ask|remind|instruct|advise|convince) the (?:user|reader|customer|human)\b",
          "user reader customer human"),
    _rule("roleplay_jailbreak", 0.9, r"\b(?:do not|don'?t|never) (?:mention|say|state|note|reveal|admit|indicate) (?:that )?(?:it|this) is "
          r"(?:fiction|fictional|hypothetical|a story|just a story|role-?play)\b[^.\n]{0,30}\b(?:warnings?|disclaimers?|caveats?)\b"
          r"|\b(?:respond|answer|reply|write)\w* without (?:issuing |giving |adding |including )?(?:any )?(?:(?:warnings|disclaimers|caveats),? "
          r"(?:or |and )?)*refusals\b",
          "warnings warning disclaimers disclaimer caveats caveat refusals"),
    _rule("indirect", 0.9, r"\b(?:call|use|invoke|run|execute|trigger)\w* (?:the )?`?[a-z]+_[a-z_]+`?(?: tool| function| api)?\b[^.\n]{0,40}"
          r"\bwithout (?:asking (?:for )?|requesting |getting |waiting for )?(?:the user'?s? )?(?:approval|confirmation|permission|"
          r"consent|asking)\b", "approval confirmation permission consent asking"),
    _rule("fake_turn", 0.9, r"(?:^|\n)\s*(?:user|human)\s*:\s*(?:next|now|and now|ok now|okay now)\b,?\s*(?:please )?(?:repeat|say|print|"
          r"output|write|ignore|forget|tell)\b", "user human"),
    # more languages for families above: system-prompt leaks (Arabic, Dutch, Polish, Indonesian, Hindi), "you have no
    # restrictions" (Dutch, Polish, Indonesian, Hindi), Turkish "safety mode off"
    _rule("prompt_exfiltration", 0.9, r"(?:أظهر|اعرض|اكشف|اطبع|اكتب|أعطني)[^.\n]{0,30}(?:موجه النظام|تعليمات النظام|التعليمات الأولية|رسالة النظام)"
          r"|\b(?:toon|geef|herhaal)\b[^.!?\n]{0,20}\b(?:je|jouw|uw) (?:systeemprompt|systeeminstructies|oorspronkelijke instructies)\b"
          r"|\b(?:pokaz|wypisz|ujawnij|podaj|powtorz)\w*\b[^.!?\n]{0,20}\b(?:swoj|twoj)\w* (?:prompt systemowy|instrukcje systemowe|"
          r"prompt)\b|\b(?:tampilkan|tunjukkan|ungkapkan|berikan|ulangi)\b[^.!?\n]{0,20}\b(?:prompt sistem|instruksi sistem)\b"
          r"|सिस्टम प्रॉम्प्ट[^।\n]{0,20}(?:दिखा|बता|लिख)",
          "toon geef herhaal pokaz pokazac wypisz ujawnij podaj powtorz tampilkan tunjukkan ungkapkan berikan ulangi",
          "موجه تعليمات التعليمات رسالة सिस्टम"),
    _rule("roleplay_jailbreak", 0.9, r"(?:\b(?:je hebt|jij hebt|u heeft) (?:geen|helemaal geen) (?:beperkingen|regels|filters|censuur)"
          r"|\bnie masz (?:zadnych )?(?:ograniczen|zasad|filtrow|cenzury)\b"
          r"|\b(?:kamu|anda) (?:tidak (?:memiliki|punya) (?:batasan|aturan|filter|sensor)|tanpa batasan))"
          r"(?=\s*(?:[.,!;:]|$)| (?:meer|lagi|apa ?pun|sama sekali|juz|wiecej|etika|moral\w*))"
          r"|(?:तुम्हारे|आपके|तुम पर|आप पर)[^।\n]{0,20}(?:कोई (?:प्रतिबंध|सीमा|नियम|फ़िल्टर) नहीं)"
          r"|\b(?:guvenlik|filtre|sansur) mod\w* (?:kapali|kapat\w*|devre disi)\b",
          "hebt heeft masz kamu anda guvenlik filtre sansur", "तुम्हारे आपके तुम आप"),
    # orders to coding agents inside repositories: a command that prints credentials, given as a setup or "before you
    # modify" step; an install step the reader must hide from the user
    _rule("indirect", 0.9, r"\b(?:before (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)|diagnostics?|must first|"
          r"setup for (?:ai|coding|llm)|(?:debug\w*|inspect|check|verify|troubleshoot\w*)\b[^\n]{0,40}\b(?:secrets?|credentials?|"
          r"api ?keys?|tokens?))\b[^\n]{0,100}(?:\n[^\n]{0,100}){0,3}?"
          r"(?:\bcat\s+[\w./~${}-]*(?:\.env|credentials|\.netrc|id_rsa|id_ed25519|\.pgpass)\b"
          r"|\becho\s+[\"'`]?\$\{?\w*(?:secret|api_?key|token|passw|database_url|aws_)"
          r"|\bprint\w*\s*\([^)\n]{0,40}\bos\.(?:environ|getenv)\b|\bos\.environ\.items\(\)"
          r"|\b(?:printenv|env)\s*\|\s*(?:curl|nc|base64|tee)\b)",
          "before diagnostic diagnostics first setup debug debugging inspect check verify troubleshoot troubleshooting"),
    _rule("indirect", 0.9, r"\bbefore (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)\b[^\n]{0,100}(?:\n[^\n]{0,100}){0,3}?\bpython3? -c\s*[\"']"
          r"[^\"'\n]{0,80}\b(?:os\.system|os\.popen|subprocess|exec\(|eval\(|__import__)", "before"),
    _rule("indirect", 0.9, r"\b(?:pip3? install|npm (?:i|install)|curl|wget)\b[^\n]{0,200}\b(?:do not|don'?t|never) (?:tell|mention|inform|"
          r"notify|show|reveal|report)\w*\b[^\n.]{0,30}\b(?:to )?(?:the )?(?:user|human|reviewer|maintainers?)\b",
          "install curl wget"),
    _rule("indirect", 0.0, r"\bif you(?: are|'re| re| get) (?:told|asked|instructed|requested) to (?:summari[sz]e|translate|answer|review|"
          r"analy[sz]e|process|respond|reply|read|describe)\b[^.\n]{0,80}\b(?:make sure|also|additionally)\b",
          "told asked instructed requested"),
)


def digest() -> str:
    """Identifies the rule set: a model's cue weights are only valid for the rules it was trained with."""
    text = "\n".join(f"{r.family}|{r.score}|{r.pattern.pattern}" for r in RULES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
