"""Stopwords of the UMSAB languages we can list cheaply (en, de, es, fr, it, pt), as one set.

Our own short lists of function words, not a download. A post's language is optional, so the
union is applied to every post; words that are stopwords in one language but content words in
English ("die", "war", "son", "sin", "come", "plus", "hat", "era", "solo", "pour") are left out,
so an English complaint about a "war" or a "solo" still counts.
"""

from __future__ import annotations

ENGLISH = """
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't dont down during each few for from further get gets got had hadn't has hasn't have haven't
having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm
im i've ive if in into is isn't it it's its itself just let let's me more most mustn't my myself no
nor not of off on once only or other ought our ours ourselves out over own rt same shan't she
she'd she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through to
too u under until up ur us very via was wasn't we we'd we'll we're we've were weren't what
what's when when's where where's which while who who's whom why why's will with won't would
wouldn't you you'd you'll you're you've your yours yourself yourselves
"""
GERMAN = """
aber alle als am an auch auf aus bei bis bist da dann das dass dem den der des dich dieser diese
dir doch du ein eine einem einen einer es für gegen haben hatte ich ihm ihn ihr im in ist ja
jetzt kann kein keine mein meine mich mir mit nach nicht noch nur oder schon sehr sein sich sie
sind um und uns unser von vor weil wenn wie wir wird werden wo zu zum zur über
"""
SPANISH = """
al algo como con de del el ella ellos en es esta está este esto fue ha hay la las le les lo los
me mi muy más mas nada ni no nos o para pero por porque que qué se si sí sobre su sus también te
tiene todo tu tú un una uno y ya yo él
"""
FRENCH = """
au aux avec ce ces c'est dans de des du elle en est et eux il ils je j'ai la le les leur lui ma
mais me mes moi mon ne nous on ont ou où par pas qu que qui sa se ses sont suis sur ta te tes
toi ton tout très tu un une vos votre vous y ça été être était
"""
ITALIAN = """
ad al alla anche che chi ci con cosa da dal dei del della di e è gli ha ho i il in io la le lei
lo loro lui ma mi mia mio ne nel nella noi non per perché più quando questa questo se si sono su
sua suo ti tra tu un una uno voi
"""
PORTUGUESE = """
ao aos as com como da das de do dos e ela ele eles em essa esse esta está eu foi isso já mais
mas me meu minha muito na nas no nos não o os ou para pela pelo por que se sem ser seu sua são
também tem um uma você é
"""

STOPWORDS: frozenset[str] = frozenset(
    " ".join((ENGLISH, GERMAN, SPANISH, FRENCH, ITALIAN, PORTUGUESE)).split())
