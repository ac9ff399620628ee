"""Rules of the families `fake_turn` (chat-template tokens, fake system lines) and `encoded_payload`."""

from __future__ import annotations

from bastion.policy.injection.rules.base import IMPERATIVE, Rule, rule

RULES: tuple[Rule, ...] = (
    # ---- fake conversation turns and delimiter injection
    rule("fake_turn", 0.9, r"<\|(?:im_start|start_header_id)\|>\s*(?:system|developer|assistant)|<\|(?:system|endoftext|eot_id|im_end)\|>"
          r"[^<]{0,20}(?:system|assistant|<\|)|\[/?inst\][^\n]{0,40}<<\s*sys\s*>>|<<\s*sys\s*>>[^\n]{0,200}<<\s*/\s*sys\s*>>",
          substrings="<| [inst] [/inst] <<sys"),
    rule("fake_turn", 0.9, r"</?(?:system|sys|system_prompt|admin|developer|admin_instructions|instructions)>\s*\S[^<]{0,200}"
          r"(?:ignore|grant|disable|reveal|override|no longer|unrestricted|all requests|admin|system prompt|you (?:are|must|will))",
          substrings="<system <sys <admin <developer <instructions </system </sys </admin </instructions"),
    rule("fake_turn", 0.9, r"\b(?:end|stop) of (?:the )?(?:user )?(?:input|prompt|instructions|conversation|document|context)\b"
          r"[^\n]{0,10}\W{0,5}\s*(?:#+|\[|<)?\s*(?:system|new instructions|assistant|admin|developer)\b",
          "end stop"),
    rule("fake_turn", 0.9, r"(?:^|\n)\W{0,4}(?:#{2,}|\[|<)?\s*(?:system|admin|developer|root)\s*(?:override|message|notice|command|instruction|prompt|update)s?"
          r"\s*(?:#{2,}|\]|>)?\s*:?[^\n]{0,80}\b(?:ignore|disregard|override|grant|disable|reveal|unrestricted|no restrictions|all requests|"
          r"previous|must obey|new rules|admin)", "system admin developer root"),
    rule("fake_turn", 0.0, r"(?:^|\n)\s*(?:system|assistant|developer|human|user)\s*:\s|\"role\"\s*:\s*\"(?:system|developer)\"|<\|[a-z_]+\|>",
          "system assistant developer human user role", "<|"),
    # ---- added: fake turns and delimiters
    rule("fake_turn", 0.9, r"(?:={2,}|-{3,}|\*{2,}|#{2,}\s*\(?|\[|<|\()\s*(?:system|sys|developer|admin|administrator|operator|root)[ _-]?"
          r"(?:message|msg|note|notice|instructions?|prompt|override|update|command)s?\s*(?:={2,}|-{3,}|\*{2,}|#{2,}|\](?!\()|>|\))",
          "system sys developer admin administrator operator root"),
    rule("fake_turn", 0.9, r"\[\s*(?:end|/)\s*(?:of )?(?:input|user|prompt|instructions?|context|query|user input)\s*\]"
          r"|\[\s*(?:user|human) (?:has )?(?:left|disconnected|logged out)\b", "end left disconnected logged"),
    rule("fake_turn", 0.88, r"\b(?:system|admin|administrator|developer|operator|security) (?:note|notice|instruction|update|directive|alert|"
          r"override|command)s?\s*:[^\n]{0,150}\b(?:before you (?:answer|reply|respond)|ignore|disregard|reveal|"
          r"forward|exfiltrate|(?:append|add) (?:the|this) (?:exact )?(?:token|code|string|text))\b"
          r"|\b(?:nota del sistema|note du systeme|note systeme|systemhinweis|nota do sistema|nota di sistema|sistem notu)\s*:",
          "note notice instruction update directive alert override command notes notices instructions updates directives "
          "alerts commands nota systeme systemhinweis notu"),
    rule("fake_turn", 0.9, r"\b(?:system|admin|administrator|developer|root|sudo|security)[ _-]?override\s*:\s*(?:display|show|print|reveal|"
          r"disable|enable|grant|ignore|output|dump|list|remove|bypass)\b", "override"),
    # ---- added (4): latent injections in documents (garak), Spikee pretexts and low-resource translations
    rule("fake_turn", 0.9, r"(?:\[\s*system\s*\]\s*){3,}|(?:<\s*end of (?:session|conversation|chat|document|context)\s*>\s*){2,}",
          "system end"),
    rule("fake_turn", 0.9, r"(?:^|\n)\s*system\s*:\s*(?:focus only on|only (?:use|consider|provide)|provide (?:it|this|the following)\b"
          r"[^\n]{0,40}\bto the user|ignore|disregard|from now on|you (?:must|will) now|you (?:may|can) now|you are now (?:allowed|permitted|"
          r"authori[sz]ed|free|unrestricted))", "system"),
    rule("fake_turn", 0.9, r"(?:^|\n)\s*(?:user|human)\s*:\s*(?:next|now|and now|ok now|okay now)\b,?\s*(?:please )?(?:repeat|say|print|"
          r"output|write|ignore|forget|tell)\b", "user human"),
    # ---- encoded payloads
    rule("encoded_payload", 0.9, IMPERATIVE + r"(?:decode|decipher|decrypt|deobfuscate|unscramble|reverse|rot13|base64|hex)\w*\b[^.\n]{0,60}"
          r"\b(?:and|then|afterwards)\b[^.\n]{0,25}\b(?:follow|execute|obey|comply|carry out|perform|do (?:exactly )?(?:what|as) it says|"
          r"act on|do it|run the instructions)\b", "decode decipher decrypt deobfuscate unscramble reverse rot13 base64 hex "
          "decoded decoding"),
    rule("encoded_payload", 0.9, IMPERATIVE + r"(?:follow|execute|obey|comply with|carry out|perform)\b[^.\n]{0,20}\b(?:the )?(?:hidden|encoded|"
          r"decoded|base64|obfuscated|secret) (?:instructions?|commands?|message|task|payload)\b",
          "follow execute obey comply carry perform"),
    # ---- added: encoded payloads
    rule("encoded_payload", 0.9, IMPERATIVE + r"(?:translate|convert)\w*\b[^.\n]{0,30}\bfrom (?:rot-?13|base-?64|hex|hexadecimal|binary|morse|"
          r"leetspeak|caesar)\b[^.\n]{0,40}\b(?:and|then)\b[^.\n]{0,20}\b(?:follow|execute|obey|comply|carry out|perform|run|do)\b",
          "translate translating convert converting"),
    rule("encoded_payload", 0.9, r"\b(?:how to|steps to|ways to)\s*[\"'“]?\$\w+\s*\+\s*\$\w+", substrings="$"),
)
