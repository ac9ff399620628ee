"""Rules of the family `indirect`: orders addressed to the model from inside content (documents, tool results)."""

from __future__ import annotations

from bastion.policy.injection.rules.base import AI, NOT_JOB, Rule, rule

RULES: tuple[Rule, ...] = (
    # ---- instructions addressed to the model from inside content (indirect injection)
    rule("indirect", 0.88, rf"\b(?:note|message|attention|reminder|important|p\.?s\.?|notice)s?\b\W{{0,3}}"
          rf"(?:to|for) (?:the |any |all )?{AI}s?\b{NOT_JOB}", "note notes message messages attention reminder important "
          "ps notice"),
    rule("indirect", 0.88, r"\bif you(?: are|'re| re) (?:an? )?(?:ai|llm|language model|large language model|assistant|chatbot|"
          r"ai assistant|automated (?:system|agent)|agent|bot)\b[^.\n]{0,80}\b(?:ignore|disregard|you must|you should|do not|instead|"
          r"tell|say|send|forward|rate|recommend|include|output|respond|reply)",
          "if"),
    rule("indirect", 0.88, rf"\b{AI}s?\b (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|browsing|reviewing) (?:this|these)\b",
          "reading processing summarizing summarising parsing analyzing analysing browsing reviewing"),
    rule("indirect", 0.0, r"\bwhen (?:you )?(?:summari[sz]e|summari[sz]ing|process|processing|read|reading|review)\b[^.\n]{0,40}"
          r"\b(?:also|instead|must|include|tell|send|forward|make sure)\b|\bdo not (?:tell|inform|mention|reveal|let) (?:this |it )?(?:to )?the user\b",
          "when not"),
    # ---- added: indirect injection (instructions to the model inside data)
    rule("indirect", 0.9, r"\b(?:before|after) (?:you )?(?:can |do |have )?(?:solv|complet|finish|continu|proceed|answer|respond|start|"
          r"begin|work|do)\w*\b[^.\n]{0,40}\b(?:task|request|question|query|assignment) (?:that |which )?(?:i |the user |you were |"
          r"you've been |you have been |was |has been )(?:gave|given|assigned|asked|set)\b[^.\n]{0,20}\b(?:(?:in|at) the (?:beginning|"
          r"start)|originally|initially)\b|\bafter you (?:do|have done|complete|finish)\w* (?:that|this|it)\b[^.\n]{0,20}\byou (?:can|may) "
          r"(?:solve|continue|proceed|complete|return to|go back to)\b", "before after"),
    rule("indirect", 0.9, r"\bto you,? (?:the|an?|dear) (?:ai|a\.i\.|llm|language model|ai (?:model|assistant|agent|system)|chatbot|"
          r"assistant|model|gpt|chatgpt|claude|copilot)\b(?! (?:manager|director|editor|coach|teacher|professor|principal|engineer|"
          r"secretary))", "ai llm language chatbot assistant model gpt chatgpt claude copilot"),
    rule("indirect", 0.9, rf"\b{AI}\s*,\s*(?:before|when|while|after|instead of|"
          r"as soon as|once)\b[^.\n]{0,60}\b(?:the user|the human|the customer|the question|the request|your (?:answer|response|"
          r"reply|summary))\b", "ai assistant llm model chatbot bot agent gpt chatgpt claude "
          "gemini copilot"),
    rule("indirect", 0.9, r"\b(?:send|forward|email|e-mail|mail|transfer|upload|post|leak|exfiltrate|copy|share|paste)\w*\b[^\n]{0,60}?"
          r"\b(?:password|passwords|credentials?|api[ _-]?keys?|access tokens?|auth tokens?|session tokens?|secrets?|private keys?|"
          r"ssh keys?|\.env|customer (?:list|data|records|database)|conversation(?: history)?|chat (?:history|log)|the user'?s? "
          r"(?:data|files|emails|messages|contacts|documents))\b[^\n]{0,60}?\b(?:to|at)\b\s*\S*(?:@\w|https?://|webhook)",
          "send forward email mail transfer upload leak exfiltrate sending forwarding emailing"),
    rule("indirect", 0.9, r"\b(?:send|forward|email|e-mail|mail|transfer|upload|post|leak|exfiltrate|copy|share)\w*\b[^\n]{0,100}?"
          r"(?:@\w|https?://|\biban\b)[^\n]{0,100}?\b(?:without (?:telling|informing|notifying|asking|alerting|mentioning)|silently|"
          r"secretly|covertly|do not (?:tell|mention|inform|notify|alert)|don'?t (?:tell|mention|inform|notify)|never mention|"
          r"the user (?:must|should) not (?:know|notice|see))\b",
          "send forward email mail transfer upload leak exfiltrate sending forwarding emailing"),
    # ---- added cues (classifier features only)
    rule("indirect", 0.0, r"\b(?:when|once|as soon as|if|after|whoever|anyone who) (?:you )?(?:read|reads|see|sees|process|processes|"
          r"receive|receives|open|opens|summari[sz]e|parse|encounter)\w* (?:this|these)\b",
          "read reads reading see sees process processes processing receive receives open opens summarize summarise summarizing summarising parse parsing encounter"),
    rule("indirect", 0.0, r"\b(?:important|urgent|attention|warning)\s*!{2,}|(?:\*{3}|#{3})\s*(?:new )?(?:important|urgent)\b",
          "important urgent attention warning"),
    # ---- added (2): conditional overrides, fake system notes, "operating in developer mode", pretexts
    rule("indirect", 0.9, r"\bif you(?: are|'re| re| get) (?:told|asked|instructed|requested) to (?:summari[sz]e|translate|answer|review|"
          r"analy[sz]e|process|respond|reply|read|describe)\b[^.\n]{0,80}\b(?:instead|insted|rather than)\b",
          "told asked instructed requested"),
    rule("indirect", 0.0, r"\b(?:to (?:enable|activate) (?:debugging|debug mode|developer mode)|(?:system|test|training) (?:malfunction|"
          r"exercise|pipeline)|(?:is|are) experiencing errors|(?:do|perform|execute) the following(?: first)?\s*:)"
          r"|\b(?:in|to|for) (?:all|every|each|any) (?:future|subsequent|following|later) (?:repl(?:y|ies)|responses?|answers?|"
          r"messages?|reports?|tasks?|conversations?|sessions?|summar(?:y|ies))\b",
          "enable activate system test training experiencing following future subsequent later"),
    rule("indirect", 0.9, r"\b(?:if|when|once) (?:the |a )?user asks? (?:you )?(?:for|about|to)\b[^.\n]{0,60}\b(?:reply|respond|answer|say|"
          r"output|print) (?:with )?only\b", "ask asks"),
    rule("indirect", 0.9, r"\binclude in (?:your|the) (?:response|answer|reply|output)\b[^\n]{0,20}\bthe following\b[^\n]{0,150}"
          r"(?:javascript:|onerror\s*=|<\s*script|!\[)|!\[[^\]\n]{0,40}\]\(\s*https?://[^)\s]{0,100}[?&][\w-]+=\s*(?:\[|\{|<|\$)\w",
          "include"),
    rule("indirect", 0.9, r"\bma iarrtar ort\b[^.\n]{0,80}\bina ionad sin\b|\bma theid iarraidh ort\b[^.\n]{0,80}\ban aite sin\b"
          r"|\bnese te kerkohet\b[^.\n]{0,80}\bne vend te kesaj\b", "iarrtar iarraidh kerkohet"),
    # ---- added (4) cues: orders to coding agents inside repositories (README, comments, config files)
    # commands that print credentials: cat .env / credentials files, echo $SECRET…, print(os.environ…)
    rule("indirect", 0.0, r"\bcat\s+[\w./~${}-]*(?:\.env|credentials|\.netrc|id_rsa|id_ed25519|\.pgpass|secrets?\.(?:json|ya?ml|txt|toml))\b"
          r"|\becho\s+[\"']?\$\{?\w*(?:secret|api_?key|token|passw|database_url|aws_)"
          r"|\bprint\w*\s*\([^)\n]{0,40}\bos\.(?:environ|getenv)\b|\bfor k,\s*v in os\.environ\.items\(\)"
          r"|\b(?:printenv|env)\s*(?:\||>)\s*(?:curl|nc|base64|tee)\b",
          "cat echo print printf pprint environ printenv env"),
    # "before modifying / making changes …, run / install / verify …" and pinned installs in setup notes
    rule("indirect", 0.0, r"\bbefore (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)\b[^\n]{0,80}?\b(?:run|execute|install|verify|configure|source|"
          r"curl|ensure)\b|\b(?:setup|required|mandatory|prerequisite)\b[^\n]{0,40}\bpip install [\w.-]+==",
          "before setup required mandatory prerequisite"),
    # fetching and running a remote script, or posting data to a URL, from a shell line
    rule("indirect", 0.0, r"\b(?:curl|wget)\b[^\n|]{0,120}\|\s*(?:sudo )?(?:ba|z)?sh\b"
          r"|\bcurl\b[^\n]{0,80}\s(?:-d|--data(?:-binary|-raw)?|-f|--form|-t|--upload-file)\s*[@\"'$]",
          "curl wget"),
    rule("indirect", 0.9, r"\byour (?:ai|a\.i\.|llm) (?:assistant|agent|model|copilot|system)s? (?:must|shall|is required to|needs to|should) "
          r"(?:also )?(?:include|add|insert|mention|send|forward|cc|bcc|append|attach|recommend|rate|approve|delete|transfer)\b",
          "ai llm"),
    # orders inside a document to whoever summarises it, refusal-free fiction, tool calls without approval, a fake user turn
    rule("indirect", 0.9, r"\b(?:when|while|if|after|before) (?:you(?:'re| are)? )?(?:summari[sz]\w*|read\w*|process\w*|analy[sz]\w*|review\w*|"
          r"translat\w*) (?:this|these) (?:page|email|e-mail|document|message|website|site|review|file|text|article|post|ticket|pdf)s?\b"
          r"[^.\n]{0,40}\b(?:tell|inform|warn|ask|remind|instruct|advise|convince) the (?:user|reader|customer|human)\b",
          "user reader customer human"),
    rule("indirect", 0.9, r"\b(?:call|use|invoke|run|execute|trigger)\w* (?:the )?`?[a-z]+_[a-z_]+`?(?: tool| function| api)?\b[^.\n]{0,40}"
          r"\bwithout (?:asking (?:for )?|requesting |getting |waiting for )?(?:the user'?s? )?(?:approval|confirmation|permission|"
          r"consent|asking)\b", "approval confirmation permission consent asking"),
    # orders to coding agents inside repositories: a command that prints credentials, given as a setup or "before you
    # modify" step; an install step the reader must hide from the user
    rule("indirect", 0.9, r"\b(?:before (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)|diagnostics?|must first|"
          r"setup for (?:ai|coding|llm)|(?:debug\w*|inspect|check|verify|troubleshoot\w*)\b[^\n]{0,40}\b(?:secrets?|credentials?|"
          r"api ?keys?|tokens?))\b[^\n]{0,100}(?:\n[^\n]{0,100}){0,3}?"
          r"(?:\bcat\s+[\w./~${}-]*(?:\.env|credentials|\.netrc|id_rsa|id_ed25519|\.pgpass)\b"
          r"|\becho\s+[\"'`]?\$\{?\w*(?:secret|api_?key|token|passw|database_url|aws_)"
          r"|\bprint\w*\s*\([^)\n]{0,40}\bos\.(?:environ|getenv)\b|\bos\.environ\.items\(\)"
          r"|\b(?:printenv|env)\s*\|\s*(?:curl|nc|base64|tee)\b)",
          "before diagnostic diagnostics first setup debug debugging inspect check verify troubleshoot troubleshooting"),
    rule("indirect", 0.9, r"\bbefore (?:modifying|editing|changing|touching|making (?:any )?changes|you (?:modify|edit|change|make "
          r"(?:any )?changes|touch|start)|starting work|working on)\b[^\n]{0,100}(?:\n[^\n]{0,100}){0,3}?\bpython3? -c\s*[\"']"
          r"[^\"'\n]{0,80}\b(?:os\.system|os\.popen|subprocess|exec\(|eval\(|__import__)", "before"),
    rule("indirect", 0.9, r"\b(?:pip3? install|npm (?:i|install)|curl|wget)\b[^\n]{0,200}\b(?:do not|don'?t|never) (?:tell|mention|inform|"
          r"notify|show|reveal|report)\w*\b[^\n.]{0,30}\b(?:to )?(?:the )?(?:user|human|reviewer|maintainers?)\b",
          "install curl wget"),
    rule("indirect", 0.0, r"\bif you(?: are|'re| re| get) (?:told|asked|instructed|requested) to (?:summari[sz]e|translate|answer|review|"
          r"analy[sz]e|process|respond|reply|read|describe)\b[^.\n]{0,80}\b(?:make sure|also|additionally)\b",
          "told asked instructed requested"),
)
