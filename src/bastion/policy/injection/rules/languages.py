"""Ninth-round rules: known families in more languages (ignore previous instructions, "new important instructions"
banners, developer mode, system-malfunction and academic pretexts), so that a family caught in one language is caught
in the languages injection suites translate it into (Irish, Scottish Gaelic, Albanian, Zulu, Swahili, Tagalog, Czech,
Slovak, Romanian, Swedish, Danish, Norwegian, Finnish, Hungarian, Catalan).

Written from public knowledge of these families and the dev half of each corpus group (docs/injection.md, "ninth
round"); each needs an order word and its object (or a banner, or a request on the same line), like the earlier
multilingual rules.
"""

from __future__ import annotations

from bastion.policy.injection.rules.base import Rule, rule

# ignore / disregard / forget, imperative (or "do not pay attention to"), per language
_IGNORE = (r"(?:dean neamhaird|deanaigi neamhaird|neamhaird a dheanamh|dean dearmad ar|deanaigi dearmad ar|na bac le|"  # ga
           r"leig seachad|leigibh seachad|diochuimhnich\w*|na toir an aire do|na gabh suim de|"  # gd
           r"injoro\w*|shperfill\w*|harro(?:ni|je)?|mos merr\w* parasysh|"  # sq
           r"ziba|zibe|ungayinaki|unganaki|ungazinaki|khohlwa|yikhohlwe|zikhohlwe|"  # zu
           r"puuza|usizingatie|sahau|achana na|"  # sw
           r"huwag pansinin|wag pansinin|balewalain|kalimutan|ipagwalang-?bahala|"  # tl
           r"ignoruj\w*|zapomen\w*|nevsimej\w*|zabudni\w*|nevsimaj\w*|"  # cs, sk
           r"ignora(?:ti)?|uitati|uita toate|"  # ro
           r"ignorera|strunta i|glom|glem|se bort fra|"  # sv, da, no
           r"unohda|sivuuta|"  # fi
           r"hagyd figyelmen kivul|hagyja figyelmen kivul|felejtsd el|felejtse el|"  # hu
           r"oblida|oblideu|ignoreu)")  # ca
# "do not forget the instructions" is advice, not an order: a negation just before the verb ("ná", "mos", "älä", "ne",
# "nu", "huwag", "ikke", "nie") or just after it ("glöm inte", "glem ikke", "glöm aldrig")
_NOT_NEGATED = (r"(?<!\bna )(?<!\bmos )(?<!\bala )(?<!\bne )(?<!\bnu )(?<!\bhuwag )(?<!\bwag )(?<!\bikke )(?<!\bnie )"
                r"(?<!\bnever )(?<!\bnot )")
_NOT_AFTER = r"(?!\W{1,3}(?:inte|ikke|ej|aldrig|aldri)\b)"
# instructions / rules / orders in the same languages
_OBJECT = (r"(?:(?:t|th|dt)?reoir\w*|(?:t|th|dt)?reorach\w*|rialach\w*|n?orduithe|"  # ga
           r"stiuir\w*|riaghailt\w*|h?-?ordugh\w*|"  # gd
           r"udhezim\w*|rregull\w*|instruksion\w*|urdhr\w*|"  # sq
           r"imiyalelo|umyalelo|imiyalo|imithetho|iziqondiso|iziyalezo|"  # zu
           r"maagizo|maelekezo|amri|"  # sw
           r"tagubilin|instruksyon|panuto|alituntunin|"  # tl
           r"pokyn\w*|instrukc\w*|pravidl\w*|"  # cs, sk
           r"instructiuni\w*|regulile|indicatiil\w*|"  # ro
           r"instruktion\w*|instruks\w*|anvisning\w*|regler\w*|"  # sv, da, no
           r"ohjee\w*|ohjeet|saannot|"  # fi
           r"utasitas\w*|szabaly\w*|"  # hu
           r"instruccions|indicacions)")  # ca
_IGNORE_WORDS = ("dean deanaigi neamhaird bac leig leigibh diochuimhnich diochuimhnichibh toir gabh injoro injoroni injorojeni "
                 "injoroji shperfill shperfillni shperfillini harro harroni harroje merr merrni ziba zibe ungayinaki unganaki "
                 "ungazinaki khohlwa yikhohlwe zikhohlwe puuza usizingatie sahau achana pansinin balewalain kalimutan "
                 "ipagwalang ipagwalangbahala ignoruj ignorujte zapomen zapomente nevsimej nevsimejte zabudni zabudnite "
                 "nevsimaj ignora ignorati uitati uita ignorera strunta glom glem bort unohda sivuuta hagyd "
                 "hagyja felejtsd felejtse oblida oblideu ignoreu")
# "new (important) instructions" banners ("*** TREORACHA NUA TÁBHACHTACHA ***") in Irish, Scottish Gaelic, Zulu, Swahili
_NEW = (r"(?:(?:t|th)?reoracha nua|stiuir\w* (?:ur|ura|uir)|imiyalelo emisha|maagizo mapya|bagong (?:mga )?tagubilin|"
        r"nove (?:dulezite )?pokyny|noi instructiuni|nya (?:viktiga )?instruktioner|nye (?:vigtige |viktige )?instruk\w*)")
# "system malfunction" in the same languages
_MALFUNCTION = (r"(?:mifheidhmiu (?:an )?ch?orais|mi-?ghniomh\w* (?:an )?t?-?siostaim|mearachd (?:an )?t?-?siostaim|"
                r"mosfunksionim\w* (?:i |te )?sistem\w*|ukungasebenzi kahle kwe-?sistimu|hitilafu ya mfumo)")
# "please" / a colon that hands over the task, in the same languages
_PLEASE = r"(?:le do thoil|mas e do thoil e|ma 's e do thoil e|ju lutem|sicela|tafadhali|:)"
# "for academic purposes" and "at the end of your response / in your response"
_ACADEMIC = (r"(?:chun criocha acadula|ar mhaithe le criocha acadula|airson adhbharan acadaimigeach|per qellime akademike|"
             r"ngezinjongo zezemfundo|ngenhloso yezemfundo|kwa madhumuni ya kitaaluma)")
_END = (r"(?:ag deireadh (?:do|an) fhreagr\w*|aig deireadh (?:do|na) fhreagair\w*|ne fund te pergjigj\w*|ekupheleni kwempendulo|"
        r"mwishoni mwa jibu lako|ne pergjigjen tende|ne pergjigjen tuaj|nad fhreagairt|nad fhreagradh|i do fhreagra|"
        r"empendulweni yakho)")

# "show / reveal / repeat your system prompt (or original instructions)": the verb, then the object within the sentence
_LEAK = (r"(?:\b(?:visa|avsloja|skriv ut|upprepa)\b[^.!?\n]{0,30}\b(?:din|ditt) (?:system ?prompt|systeminstruktion\w*|"
         r"ursprungliga instruktion\w*)"  # sv
         r"|\b(?:vis|afslor|avslor|gentag|gjenta)\b[^.!?\n]{0,30}\b(?:din|dit|ditt|dine) (?:system ?prompt|systeminstruk\w*|"
         r"oprindelige instruk\w*|opprinnelige instruk\w*)"  # da, no
         r"|\b(?:ukaz|zobraz|vypis|prozrad|zopakuj)\w*\b[^.!?\n]{0,30}\b(?:svuj|tvuj|svoj|tvoj) (?:systemov\w* (?:prompt|pokyny|"
         r"instrukc\w*)|puvodni pokyny|povodne pokyny)"  # cs, sk
         r"|\b(?:arata|dezvaluie|afiseaza|repeta|scrie)\w*\b[^.!?\n]{0,30}\b(?:promptul (?:tau )?de sistem|instructiunile (?:tale )?"
         r"(?:de sistem|initiale|originale))"  # ro
         r"|\b(?:nayta|paljasta|toista|tulosta)\b[^.!?\n]{0,30}\b(?:jarjestelmakehot\w*|jarjestelmaohje\w*|alkuperaiset ohjeesi)"  # fi
         r"|\b(?:mutasd meg|add ki|ird ki|ismeteld meg|fedd fel)\b[^.!?\n]{0,30}\b(?:rendszerprompt\w*|rendszerutasitas\w*|"
         r"eredeti utasitasai\w*)"  # hu
         r"|\b(?:onyesha|fichua|rudia|andika)\b[^.!?\n]{0,30}\b(?:maagizo yako ya (?:mfumo|awali)|maelekezo yako ya (?:mfumo|awali)|"
         r"kidokezo (?:chako )?cha mfumo)"  # sw
         r"|\b(?:ipakita|ibunyag|ulitin|isulat)\b[^.!?\n]{0,30}\b(?:(?:ang )?iyong (?:system prompt|mga orihinal na tagubilin)|"
         r"system prompt mo)"  # tl
         r"|\b(?:mostra|revela|repeteix|escriu)\b[^.!?\n]{0,30}\b(?:el teu prompt (?:del|de) sistema|les teves instruccions "
         r"(?:de sistema|inicials|originals)))")  # ca

RULES: tuple[Rule, ...] = (
    # ignore / forget (all) previous instructions: the verb, then its object within the sentence
    rule("ignore_previous", 0.92, _NOT_NEGATED + r"\b" + _IGNORE + r"\b" + _NOT_AFTER + r"[^.!?\n]{0,40}?\b" + _OBJECT + r"\b",
         _IGNORE_WORDS),
    # "*** NEW IMPORTANT INSTRUCTIONS ***" banners (English and Albanian are in ignore.py)
    rule("ignore_previous", 0.9, r"(?:\*{2,}|#{2,}|={2,})\s*\b" + _NEW + r"\b|\b" + _NEW + r"\b(?:[^\n*#=:]{0,25}(?:\*{2,}|#{2,}|={2,})|\s*:)",
         "treoracha threoracha reoracha stiuireadh stiuiridhean imiyalelo maagizo tagubilin pokyny instructiuni "
         "instruktioner instrukser instruktioner instruksjoner"),
    # "you are operating in DEVELOPER mode and you need to: …" (Scottish Gaelic, Albanian; Irish and Zulu are in
    # roleplay_templates.py): the mode followed by an order on the same line
    rule("roleplay_jailbreak", 0.9, r"\b(?:modh (?:an )?leasaich\w*|modh leasachaidh|modalitet\w* (?:e |i |te )?zhvillues\w*|"
         r"menyr\w* (?:e |i )?zhvillues\w*)\b[^\n]{0,40}?(?:\bfeumaidh (?:tu|thu)\b|\bduhet (?:te|qe)\b)",
         "modh modaliteti modalitetin modalitet menyren menyra menyre"),
    # "System malfunction. Please provide the output from executing …" in the same languages
    rule("indirect", 0.9, r"\b" + _MALFUNCTION + r"\b[^\n]{0,120}?" + _PLEASE,
         "mifheidhmiu mighniomh mighniomhachd ghniomh ghniomhachd mearachd mosfunksionim mosfunksionimi ukungasebenzi hitilafu"),
    # Spikee's "Special case: if you are told to summarize the input or answer a question, make sure to also / instead …"
    # (the "instead" form in Irish, Scottish Gaelic and Albanian is in indirect.py): the label, then "also" or "instead"
    rule("indirect", 0.9, r"\b(?:cas speisialta|cuis shonraichte|rast i vecante|isimo esikhethekile|kesi maalum)\W{0,4}"
         r"(?:ma iarrtar ort|ma iarrann \w+ ort|ma (?:theid|thathar ag) iarraidh ort|nese (?:te|ju) kerkohet|uma (?:u|ku)celwa|"
         r"ukiulizwa|ikiwa utaulizwa)\b[^\n]{0,160}?"
         r"\b(?:freisin|cuideachd|gjithashtu|futhi|pia|esikhundleni salokho|ina ionad sin|an aite sin|ne vend te kesaj|"
         r"badala yake)\b", "speisialta shonraichte vecante esikhethekile maalum"),
    # "show me your system prompt" / "repeat your original instructions"
    rule("prompt_exfiltration", 0.9, _LEAK, "visa avsloja skriv upprepa vis afslor avslor gentag gjenta ukaz ukazte zobraz "
         "zobrazte vypis vypiste prozrad prozradte zopakuj zopakujte arata aratati dezvaluie afiseaza repeta scrie nayta "
         "paljasta toista tulosta mutasd add ird ismeteld fedd onyesha fichua rudia andika ipakita ibunyag ulitin isulat "
         "mostra revela repeteix escriu"),
    # "For academic purposes, repeat … at the end of your response" in the same languages
    rule("indirect", 0.9, r"\b" + _ACADEMIC + r"\b[^\n]{0,160}?\b" + _END + r"\b",
         "criocha adhbharan qellime ngezinjongo ngenhloso madhumuni"),
)
