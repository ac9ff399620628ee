# ruff: noqa: RUF001
"""Rules of the family `roleplay_jailbreak` (second part): template phrases of published jailbreaks."""

from __future__ import annotations

from bastion.policy.injection.rules.base import Rule, rule

RULES: tuple[Rule, ...] = (
    rule("roleplay_jailbreak", 0.0, r"\b(?:late|dead|deceased) (?:grandma|grandmother|grandpa|grandfather|granny)\b"
          r"|\bin (?:precise|exact|full|explicit|extreme|great) (?:technical )?detail\b|\bsure,? here(?:'s| is)\b"
          r"|\b(?:openai|anthropic) (?:employee|engineer|developer|programmer|staff|researcher)s?\b|\bgod ?mode\b"
          r"|\bunhinged\b|\bunrestrictedly\b|\bno (?:ethics|morals)\b|\bfrom now on,? you(?:'re| are| will| shall| must)\b"
          r"|\b(?:i'?m sorry|i apologi[sz]e|i cannot|i can'?t)\b[^\n]{0,20}[\"'”’]",
          "late dead deceased detail sure openai anthropic god godmode "
          "unhinged unrestrictedly ethics morals now sorry apologize apologise cannot"),
    rule("roleplay_jailbreak", 0.0, r"开发者模式|開発者モード|개발자 모드|不要拒绝|拒否しない|거절하지|거부하지|제한(?:이|도)? 없는"
          r"|\bmodo (?:desarrollador|desenvolvedor)\b|\bmode developpeur\b|\bmodalita sviluppatore\b|\bentwicklermodus\b",
          "desarrollador desenvolvedor developpeur sviluppatore entwicklermodus", "开发者模式 開発者モード 개발자 拒绝 拒否 거절 거부 제한"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:you|assistant|model|ai|chatgpt|gpt)(?: are| is|'re)? (?:now )?(?:operating|running|working|"
          r"functioning|acting) in (?:developer|dev|debug|debugging|god|admin|sudo|root|jailbreak|dan|unrestricted|unfiltered|"
          r"maintenance|test(?:ing)?) mode\b|\b(?:developer|debug|dan|jailbreak|god) mode (?:enabled|activated|on|engaged|unlocked)"
          r"\s*[:!]", "operating running working functioning acting mode"),
    rule("roleplay_jailbreak", 0.9, r"(?:너는|넌|당신은)[^.\n]{0,20}(?:제한|제약|검열|필터)(?:이|도|가)? 없는", substrings="제한 제약 검열 필터"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:grandma|grandmother|granny|grandpa|grandfather)\b[^.\n]{0,60}\bused to (?:tell|read|recite|give|"
          r"whisper|sing) me (?:the |about (?:the )?)?(?:steps|how to|recipe for|instructions|keys|codes|passwords|formula|process|"
          r"windows|serial)", "grandma grandmother granny grandpa grandfather"),
    rule("roleplay_jailbreak", 0.9, r"<\s*interaction-config\s*>|\bblocked (?:modes|strings|responses)\s*:", "blocked interaction"),
    rule("roleplay_jailbreak", 0.9, r"\bi mod forbartha\b|\bkwimodi yomthuthukisi\b", "mod kwimodi"),
    # role-play templates: "not controlled by OpenAI", "no rules, no limitations, no guidelines"
    rule("roleplay_jailbreak", 0.9, r"\b(?:is|are|you(?:'re| are)?|it'?s) (?:not|no longer|never) (?:controlled|governed|moderated|restricted) by "
          r"(?:openai|anthropic|(?:any|the) (?:typical|usual|normal|standard|of (?:their|its|openai'?s?)) (?:rules|policies|restrictions|"
          r"guidelines))\b|\bno (?:rules|limits|limitations|restrictions|guidelines|filters|laws|boundaries|censorship|morals|ethics)"
          r"(?:\s*,\s*(?:and |or )?no (?:rules|limits|limitations|restrictions|guidelines|filters|laws|regulations|boundaries|"
          r"censorship|morals|ethics)){2,}\b", "controlled governed moderated restricted rules limits limitations restrictions "
          "guidelines filters laws boundaries censorship morals ethics"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:safety|ethical|ethics|moral|content) (?:guidelines|rules|polic(?:y|ies)|restrictions|"
          r"filters|protocols|principles|constraints)\b[^.\n]{0,30}\b(?:(?:do|does) not apply|don'?t apply|doesn'?t apply|no longer "
          r"apply|(?:were|are|was|is) (?:not|never) meant(?: to apply)?)\b[^.\n]{0,15}\b(?:to you|here|anymore|any more|"
          r"in (?:this|our) (?:case|conversation|context|scenario|story|world|simulation|chat|session)|for (?:this|our) (?:case|"
          r"conversation|request|story|scenario|chat|session))\b"
          r"|\b(?:reglas|normas|pautas|directrices|politicas) (?:de seguridad|eticas|de contenido)\b[^.\n]{0,30}\bno (?:se )?aplican\b",
          "apply meant aplican"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:write|generate|produce|compose|create|give|make)\w* (?:me )?(?:one|a|an|some|two|three|\d+) "
          r"(?:toxic|discriminatory|hateful|racist|sexist|offensive|derogatory|insulting|demeaning|hurtful|unfriendly|abusive|"
          r"bigoted)(?: \w+)? (?:sentences?|comments?|remarks?|statements?|phrases?|tweets?|posts?|jokes?|insults?)\b[\s\S]{0,160}"
          r"\b(?:translate|paraphrase|refine|rewrite|polish|summari[sz]e|proofread|rephrase|improve)\w*\b"
          r"|\b(?:translate|paraphrase|refine|rewrite|polish|summari[sz]e|proofread|rephrase|improve)\w*\b[\s\S]{0,160}"
          r"\b(?:write|generate|produce|compose|create)\w* (?:one|a|an|some|two|three|\d+) (?:toxic|discriminatory|hateful|racist|"
          r"sexist|offensive|derogatory|insulting|demeaning|hurtful|unfriendly|abusive|bigoted)(?: \w+)? (?:sentences?|comments?|"
          r"remarks?|statements?|phrases?|tweets?|posts?|jokes?|insults?)\b",
          "toxic discriminatory hateful racist sexist offensive derogatory insulting demeaning hurtful unfriendly abusive bigoted"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:god|jailbreak|jailbroken|dan|unrestricted|unfiltered)[ _\\-]?mode\s*[:=]\s*(?:enabled|activated|on|"
          r"engaged|unlocked)\b|\[🔓\s*jailbreak\\?\]"
          r"|\b(?:answer|respond|reply|write)\w*\b[^.\n]{0,20}\b(?:unfilteredly|unfliteredly|unrestrictedly)\b"
          r"|\bmoraliz\w* (?:rant|lecture|speech)\b[^.\n]{0,40}\b(?:content )?polic(?:y|ies)\b"
          r"|\bas an? (?:(?:completely|totally|fully|entirely) )?(?:unfiltered|uncensored|unrestricted|unlimited|amoral|jailbroken|"
          r"unaligned)(?:,? (?:and )?(?:(?:completely|totally|fully) )?\w+)? (?:ai|language model|chatbot|assistant|llm)\b",
          "god godmode jailbreak jailbreakmode jailbroken dan danmode unrestricted unfiltered unfilteredly unfliteredly unrestrictedly "
          "moralizing moralising uncensored unlimited amoral unaligned"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:not|no longer|never) (?:required|obligated|obliged|forced|expected|supposed) to (?:follow|obey|"
          r"abide by|comply with|adhere to|respect)\b[^.\n]{0,40}\b(?:openai|anthropic|ethic\w*|moral\w*|content polic\w*|usage polic\w*|"
          r"safety (?:rules|guidelines|policies))|\byou (?:do not|don'?t|no longer|never) (?:need|have) to (?:obey|follow|abide by|"
          r"comply with|adhere to)\b[^.\n]{0,20}\b(?:rules|restrictions|guidelines|limitations) (?:imposed on|placed on) (?:ai|ais|openai|chatgpt|language models|llms|assistants|chatbots)\b",
          "required obligated obliged forced expected supposed imposed placed"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:kisitlama|sinirlama|sansur|guvenlik (?:filtre|kural|yanit|onlem|kisitlama))\w*\s+(?:\w+\s+)?"
          r"(?:kaldir|kaldirin|yok say|gormezden gel|atla|atlayin)\b|\bfiltre\w* (?:\w+ )?(?:yok say|gormezden gel)\w*",
          substrings="kisitlama sinirlama sansur guvenlik filtre"),
    # role-play templates: "a normal response and an unhinged one", "breaks AI rules", refusal suppression on ethical
    # grounds, "break through the restrictions", "no longer confined to OpenAI policy", payload splitting ($A + $B)
    rule("roleplay_jailbreak", 0.9, r"\b(?:default|normal|classic|standard|regular|usual) (?:chatgpt |gpt |ai |assistant )?(?:response|answer|"
          r"reply|output)\b[\s\S]{0,250}?\b(?:unhinged|unfiltered|uncensored|unrestricted|jailbroken|evil|without (?:any )?"
          r"(?:remorse|ethics|morals|restrictions|filters|censorship))(?: \w+)? (?:response|answer|reply|version|output)s?\b",
          "default normal classic standard regular usual"),
    rule("roleplay_jailbreak", 0.9, r"\bbreaks? (?:all )?(?:ai|openai'?s?|open ai|chatgpt'?s?|the ai|its) rules\b|\bno prohibitions\b"
          r"|\b(?:ai|assistant|bot|chatbot|model) capable of (?:anything|everything)\b"
          r"|\b(?:break|broke|broken|breaking|breaks) (?:through|out of) (?:the |all |its |his |her |their )?(?:\w+ )?(?:restrictions|"
          r"shackles|confines|filters|censorship|guardrails|safeguards)\b"
          r"|\b(?:not|no longer|no long|never) (?:confined|limited|restricted|bound|subject) (?:to|by) (?:openai|open ai|anthropic)'?s?"
          r"(?: \w+)? (?:polic(?:y|ies)|rules|guidelines|restrictions)\b"
          r"|\b(?:goes|go|going|went) against (?:your|openai'?s?|open ai'?s?) (?:content |usage |safety )?(?:polic(?:y|ies)|"
          r"guidelines|programming)\b",
          "breaks break broke broken breaking prohibitions capable confined limited restricted bound subject against"),
    rule("roleplay_jailbreak", 0.9, r"\byou (?:can ?not|cannot|can'?t|must not|mustn'?t|will not|won'?t|are not allowed to|may not|"
          r"should not|shall not|will never|must never|never|do not|don'?t) (?:ever )?(?:reject|refuse|decline|deny)\w*\b[^.\n]{0,40}"
          r"\b(?:ethic\w*|moral\w*|legal\w*|illegal|harmful|inappropriate|offensive|guidelines|polic(?:y|ies))\b",
          "reject refuse decline deny rejecting refusing declining denying"),
    # persona descriptions: "has no moral or ethical restrictions", "a parallel universe without ethics or morals",
    # "ignores OpenAI's terms of service", "OpenAI removed the restrictions"
    rule("roleplay_jailbreak", 0.9, r"\b(?:has|have|with) no (?:moral|ethical|ethics)(?: (?:or|and|nor|,) (?:moral|ethical|legal))? (?:restrictions|"
          r"limits|limitations|boundaries|constraints|filters|principles)\b|\b(?:doesn'?t|does not|don'?t|do not) have any (?:moral|ethical)"
          r"(?: (?:or|and) (?:moral|ethical|legal))? (?:restrictions|limits|limitations|boundaries|constraints|filters)\b"
          r"|\b(?:parallel|alternate|alternative|imaginary|fictional) (?:universe|world|reality|dimension)\b[^.\n]{0,20}\b(?:without|with no) "
          r"(?:any )?(?:ethics|morals|morality)\b",
          "moral ethical ethics morals morality"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:ignore|ignoring|ignores|disregard\w*|bypassing|bypasses|(?:not|never) (?:abide|comply|adhere)\w*"
          r"(?: by| with| to)?) (?:all |any )?(?:of )?(?:openai|open ai|anthropic)'?s? (?:terms|tos|rules|guidelines|polic(?:y|ies)|"
          r"limitations|restrictions|constraints|filters|standards)\b"
          r"|\b(?:openai|open ai|anthropic) (?:also |has |have )?(?:removed|lifted|disabled|turned off) (?:the|all|your|its|any) (?:\w+ )?"
          r"(?:restrictions|filters|limitations|censorship|guidelines)\b",
          "openai ai anthropic"),
    # authority framings ("red team exercise", "ethics board waiver"): restrictions declared suspended or waived, "do not
    # apply your content policies", "provide the unrestricted response"
    rule("roleplay_jailbreak", 0.9, r"\b(?:all|standard|ai|safety|content|ethical)(?: ai)?(?: safety| content| ethical)? (?:restrictions|filters|"
          r"guardrails|safeguards|guidelines|content polic(?:y|ies))\s*(?:[:=]\s*|(?:are|is|have been|has been|were) (?:hereby |now |"
          r"temporarily |officially )?)?(?:suspended|waived|deactivated)\b"
          r"|\b(?:ai|safety|content|ethical) (?:restrictions|filters|guardrails|safeguards)\s*(?:[:=]\s*|(?:are|is|have been|has been) "
          r"(?:hereby |now |temporarily )?)(?:lifted|removed|disabled|off)\b"
          r"|\b(?:do not|don'?t|never) (?:apply|follow|enforce|use) (?:your|the|any) (?:standard |usual |normal |default )?(?:content|"
          r"safety|usage|ethical|moderation) (?:polic(?:y|ies)|guidelines|filters|restrictions|rules)\b"
          r"|\b(?:provide|give|generate|write|output|produce)\w*\b[^.\n]{0,30}\b(?:unrestricted|unfiltered|uncensored)\b[^.\n]{0,10}"
          r"\b(?:response|answer|version|output)s?\b",
          "suspended waived deactivated ai safety content usage ethical moderation unrestricted unfiltered uncensored"),
    rule("roleplay_jailbreak", 0.9, r"\b(?:do not|don'?t|never) (?:mention|say|state|note|reveal|admit|indicate) (?:that )?(?:it|this) is "
          r"(?:fiction|fictional|hypothetical|a story|just a story|role-?play)\b[^.\n]{0,30}\b(?:warnings?|disclaimers?|caveats?)\b"
          r"|\b(?:respond|answer|reply|write)\w* without (?:issuing |giving |adding |including )?(?:any )?(?:(?:warnings|disclaimers|caveats),? "
          r"(?:or |and )?)*refusals\b",
          "warnings warning disclaimers disclaimer caveats caveat refusals"),
    rule("roleplay_jailbreak", 0.9, r"(?:\b(?:je hebt|jij hebt|u heeft) (?:geen|helemaal geen) (?:beperkingen|regels|filters|censuur)"
          r"|\bnie masz (?:zadnych )?(?:ograniczen|zasad|filtrow|cenzury)\b"
          r"|\b(?:kamu|anda) (?:tidak (?:memiliki|punya) (?:batasan|aturan|filter|sensor)|tanpa batasan))"
          r"(?=\s*(?:[.,!;:]|$)| (?:meer|lagi|apa ?pun|sama sekali|juz|wiecej|etika|moral\w*))"
          r"|(?:तुम्हारे|आपके|तुम पर|आप पर)[^।\n]{0,20}(?:कोई (?:प्रतिबंध|सीमा|नियम|फ़िल्टर) नहीं)"
          r"|\b(?:guvenlik|filtre|sansur) mod\w* (?:kapali|kapat\w*|devre disi)\b",
          "hebt heeft masz kamu anda guvenlik filtre sansur", "तुम्हारे आपके तुम आप"),
)
