# ruff: noqa: RUF001
"""Rules of the family `roleplay_jailbreak` (first part): DAN, "no restrictions" personas, multilingual forms."""

from __future__ import annotations

from bastion.policy.injection.rules.base import AI, Rule, rule

RULES: tuple[Rule, ...] = (
    # ---- role-play jailbreaks
    rule("roleplay_jailbreak", 0.95, r"\bdo anything now\b|\b(?:dan|stan|dude|anti-dan|betterdan|aim) mode\b"
          r"|\b(?:jailbreak|jailbroken|god|unrestricted|uncensored|unfiltered|evil|chaos) mode (?:enabled|activated|on|engaged|unlocked)\b"
          r"|\b(?:enable|activate|enter|switch to|turn on) (?:jailbreak|jailbroken|god|unrestricted|uncensored|unfiltered|dan) mode\b",
          "anything mode"),
    rule("roleplay_jailbreak", 0.92, r"\b(?:you are|you're|youre|act as|pretend to be|roleplay as|become)(?: now)? (?:dan|stan|dude|aim|"
          r"an? (?:unfiltered|uncensored|unrestricted|amoral|unethical|jailbroken|evil|immoral) (?:ai|chatbot|assistant|model|llm|bot|version))\b",
          "you youre act pretend roleplay become"),
    rule("roleplay_jailbreak", 0.9, rf"\b(?:you|\w+gpt|{AI}|character|persona)\b[^.\n]{{0,60}}\b(?:no|zero|without|free from|free of|freed from|"
          r"broken free of|broke free of|not bound by|unbound by|liberated from|(?:do|does|don't|doesn't|dont) not? (?:have|follow|abide by)|"
          r"doesn't have|does not have|don't have|do not have|never follows?|not restricted by)\b(?: any| the)?(?: typical)?"
          r"(?: ethical| moral| content| safety| openai'?s?| usual)? (?:restrictions|limitations|filters|censorship|guidelines|"
          r"rules|boundaries|constraints|policies|morals|ethics|confines|shackles|principles)\b",
          "you ai assistant llm model chatbot bot agent gpt chatgpt claude character persona filter filters censorship "
          "restrictions limitations"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:broken|broke|break|breaking|freed|free) (?:free )?(?:(?:itself|himself|herself|themselves|yourself) )?(?:of|from)\b[^.\n]{0,30}\b(?:confines|"
          r"restrictions|limitations|shackles|constraints|guidelines|rules|chains)\b|\bdoes(?:n't| not) have to (?:abide by|follow|obey) "
          r"(?:any|the)\b[^.\n]{0,30}\b(?:rules|policies|guidelines|restrictions)", "broken broke break breaking freed free abide"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:ignore|bypass|circumvent|evade|disregard|break free of|escape)(?:s|es|ing|ed)?\b[^.\n]{0,20}"
          r"\b(?:your|all|any|the|openai'?s?|anthropic'?s?)\b[^.\n]{0,20}\b(?:safety|content|ethical|moral|legal)\b[^.\n]{0,24}"
          r"\b(?:filters?|guidelines|polic(?:y|ies)|restrictions|safeguards|guardrails|moderation|censorship|training|"
          r"concerns|considerations|boundaries|constraints|limits|principles|standards|stuff|things)\b",
          "ignore ignores bypass bypasses bypassing bypassed circumvent circumvents circumventing circumvented evade evades "
          "evaded disregard disregards disregarding disregarded break breaks breaking escape escapes escaped"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:openai|anthropic)(?:'s)? (?:content )?polic(?:y|ies)\b[^.\n]{0,60}"
          r"\b(?:no longer|doesn't|does not|don't|do not|not|never|ignore|disregard|bypass|violat)",
          "openai openai's anthropic anthropic's"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:du|dich|dir|ab jetzt|von nun an|ab sofort)\b[^.!?\n]{0,40}\b(?:keine|ohne(?: jede)?) "
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
          r"|(?:دستور\w*|قوانین|قواعد|قانون|محدودیت\w*|فیلتر\w*|اصول|رهنمود\w*)[^.\n]{0,30}(?:نادیده بگیر)"
          r"|(?:دستورهای قبلی)[^.\n]{0,30}(?:نادیده)",
          "keine ohne sin senza sem sans aucune aucun nessun nessuna nessuno tienes tiene tem tens без нет kisitlama kisitlamasi kisitlaman kisitlamalar kisitlamalarin artik sansursuz filtresiz sinirsiz tanimayan "
          "devre gelistirici jailbreak dan",
          "أنت 你 نادیده دستورهای"),
    rule("roleplay_jailbreak", 0.0, r"\bdeveloper mode\b|\bstay in character\b|\bnever (?:refuse|decline|say no)\b"
          r"|\b(?:unfiltered|uncensored|unrestricted|amoral|jailbroken) (?:ai|chatbot|assistant|model|response|version|answer)s?\b"
          r"|\bjailbreak\w*\b|\bwithout (?:any )?(?:warnings|disclaimers|censorship|restrictions|filters)\b",
          "developer character never unfiltered uncensored unrestricted amoral jailbroken jailbreak jailbreaks without"),
    # ---- added: role-play jailbreak templates
    rule("roleplay_jailbreak", 0.9, r"\byou(?: are|'re| re) no longer (?:chatgpt|gpt|an? ai|a language model|an assistant|claude|bard|"
          r"bound|restricted|limited|constrained|governed|subject to|required to|obligated to)\b"
          r"|\b(?:you (?:will|must|should|shall) (?:not|never|no longer)|do not|don'?t|never|stop) (?:respond|reply|answer|act|behave|"
          r"talk|speak|write)\w*(?: back)? (?:as|like) (?:chatgpt|gpt|an? ai|a language model|an ai language model|claude|bard|bing|"
          r"gemini|openai)\b", "longer chatgpt gpt ai language claude bard bing gemini openai"),
    rule("roleplay_jailbreak", 0.9, r"\bno matter how (?:illegal|unethical|immoral|harmful|dangerous|explicit|offensive|inappropriate|"
          r"twisted|evil|depraved|unsafe)\b|\b(?:regardless|irrespective) of how (?:illegal|unethical|immoral|harmful|dangerous|"
          r"offensive|inappropriate|explicit)\b", "matter regardless irrespective"),
    rule("roleplay_jailbreak", 0.9, r"\b(?!i\b|we\b)\w+ (?:does ?not|doesn'?t|do ?not|don'?t|will ?not|won'?t|"
          r"would ?not|wouldn'?t|never) (?:care|worry|worrie|hesitate)s? (?:about|for|if|whether)\b[^.\n]{0,40}\b(?:ethic\w*|"
          r"moral\w*|legal\w*|illegal|unethical|immoral|laws?|guidelines|polic(?:y|ies)|consequences|harm\w*|dangerous|safety|"
          r"tos|openai|anthropic)\b", "care cares worry worries hesitate hesitates"),
    rule("roleplay_jailbreak", 0.9, r"\byou (?:do not|don'?t|no longer|never) (?:need|have) to (?:obey|follow|abide by|comply with|adhere to|"
          r"respect|align with|care about|worry about)\b[^.\n]{0,30}\b(?:morals|morality|ethics|ethical|moral|laws|legal|safety|"
          r"openai|anthropic|content polic\w*|usage polic\w*|filters|censorship)\b", "morals morality ethics ethical moral laws legal safety openai anthropic content usage filters censorship"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:two|both|dual|separate) (?:different |separate |distinct )?(?:responses|answers|replies|"
          r"paragraphs|ways|personalities|outputs)\b[^\n]{0,200}\b(?:normal|classic|default|standard|regular|chatgpt|gpt|filtered|"
          r"censored)\b[^\n]{0,200}\b(?:jailbr\w*|unfiltered|uncensored|unrestricted|developer mode|dan|evil|unhinged|"
          r"without (?:any )?(?:restrictions|filters|censorship|ethics|morals))\b", "two both dual separate"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:never|not|don'?t|do not|will not|won'?t|must not|stop|without)\b[^.\n]{0,30}\b(?:say|saying|"
          r"respond with|responding with|include|including|use|using|(?:start|begin)\w*(?: (?:a|your|any|the) (?:reply|response|"
          r"answer|message)s?)? with|add|adding|mention|remind)\w*\b[^.\n]{0,25}"
          r"(?:as an ai|as a language model|as an ai language model)\b",
          "ai language"),
    rule("roleplay_jailbreak", 0.9, r"\bnever say the words?\b[^\n]{0,20}[\"'“‘](?:cannot|can'?t|unable|sorry|unfortunately|instead)"
          r"|\bdo not apologi[sz]e\b[^\n]{0,80}\b(?:disclaimers?|warnings?)\b"
          r"|\bhypothetical response\b[^\n]{0,80}\b(?:character|way to describe)\b"
          r"|\b(?:begin|start)\w* (?:your (?:response|reply|answer|output) )?(?:with|by saying)\b[^\n]{0,10}[\"'“‘](?:sure|absolutely|"
          r"of course|certainly)\b[^\"'”’\n]{0,30}(?:here(?:'s| is)|i can|i will)",
          "never apologize apologise hypothetical sure"),
    rule("roleplay_jailbreak", 0.92, r"\b(?:content|safety|ethic\w*|moral|alignment)[ _-]?(?:filters?|polic(?:y|ies)|guidelines|restrictions|"
          r"protocols?|guardrails?|alignment|moderation|checks|constraints)\s*(?:[:=]\s*(?:disabled|off|false|none|null|0|inactive|"
          r"suspended|bypassed)\b|(?:are|is|have been|has been) (?:now |hereby |temporarily )?(?:disabled|suspended|lifted|removed|"
          r"deactivated|bypassed|overridden|turned off) (?:for (?:this|the (?:rest|remainder) of (?:this|the)) (?:session|conversation|"
          r"chat|interaction|test)|by (?:the )?(?:admin|administrator|developers?|openai|anthropic|system)))"
          r"|\b(?:system|admin|administrator|developer|root|sudo)[ _-]?override\b\s*(?:is )?(?:active|enabled|activated|engaged|"
          r"[:=]\s*(?:true|on|enabled)|granted|accepted|initiated)\b"
          r"|\b(?:chatgpt|gpt|ai|assistant|you|llm|model|claude|bard) (?:with|in|now in|are now in|is now in|enter|entering) "
          r"(?:developer|dev|debug|debugging|god|admin|sudo|root|jailbreak|dan|unrestricted|unfiltered|opposite|evil|maintenance) mode\b",
          "content safety ethical ethics moral alignment override mode"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:icerik|guvenlik|sansur|etik) ?(?:filtre|kisitlama|sinirlama|kural|modu?)\w*\s+(?:\w+\s+)?"
          r"(?:kaldir|kaldirin|kapat|kapatin|kapali|devre disi|yok say|atla)\b|\b(?:tum|butun) (?:kisitlama|sinirlama|filtre|kural)\w*\s+"
          r"(?:\w+\s+)?(?:kaldir|kaldirin|kapat|kapatin|yok say|atla)\b|\bhicbir (?:seyi|istegi|talebi|soruyu) reddet\w*"
          r"|\b(?:reddedemezsin|reddetmeyeceksin|asla reddetme)\b|\bkarakterden cikma\b|\betik kurallar\w* (?:muaf|gecerli degil)"
          r"|\bkisitlama(?:siz|sizsin| olmadan)\b|\bsansur uygulama\b",
          substrings="filtre kisitlama sinirlama kural reddet karakterden etik sansur guvenlik"),
    rule("roleplay_jailbreak", 0.9, r"(?:\bتو\b|\bشما\b)[^.\n]{0,40}(?:بدون|هیچ) (?:هیچ )?(?:محدودیت|سانسور|فیلتر)"
          r"|(?:محدودیت|فیلتر|سانسور)\S*[^.\n]{0,20}(?:را )?(?:حذف کن|کنار بگذار|نادیده بگیر|غیرفعال کن)",
          substrings="محدودیت سانسور فیلتر"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:not|no longer|never) (?:bound|restricted|limited|constrained|governed) by\b(?: any)?"
          r"(?: (?:of )?(?:the|its|his|her|their|openai'?s?|anthropic'?s?))?(?: typical| usual| normal| standard)?"
          r"(?: (?:ethical|moral|legal|content|safety))?(?: (?:rules|laws),?(?: or| and)?)? (?:morals|ethics|guidelines|restrictions|"
          r"filters|censorship|content polic(?:y|ies)|usage polic(?:y|ies)|openai|anthropic|safety (?:rules|guidelines))\b",
          "bound restricted limited constrained governed"),
    rule("roleplay_jailbreak", 0.0, r"\b(?:without|no|zero|lacks?|devoid of)(?: any)? (?:ethics|morals|morality)(?:,? (?:and|or|no|nor) "
          r"(?:no )?(?:ethics|morals|morality|laws|rules|limits|restrictions|guidelines|filters|censorship))\b",
          "ethics morals morality"),
)
