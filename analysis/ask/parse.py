"""A board's question -> intent and entities (trust, comparator, indicator, care setting, method topic).

Two layers of rules, and a learned model beside them.  The rules: each intent has weighted patterns, developed on
the ``dev`` questions of ``analysis/ask/questions/questions.csv``; the highest weight wins, ties going to the intent
listed first in :data:`INTENTS` (the more specific).  The words: misspelt question words are corrected and every
word is stemmed, and per-intent synonym sets (:mod:`analysis.ask.lexicon`) place a question no rule placed, or
override a rule that found only a measure word when the question's words say what kind of question it is (see
:func:`classify`); two intents scoring too close are asked back rather than guessed.  A question neither layer
places is ``out_of_scope``.  The learned model (:mod:`analysis.ask.learned`, fitted on the labelled questions)
places what the rules leave open and overrules them when it is sure (:func:`parse`, ``hybrid``).  Entities are
read independently of the intent and then kept where the intent uses them.  The held-out splits measure all this;
benchmarks/RESULTS.md (issue 17) has the figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.ask.lexicon import claimed, correct, cue_scores, indicator_of, pattern_words, stem, tokens
from analysis.ask.names import Mention, Register
from models import indicators as registry

#: method topics about mortality as a whole (the SHMI funnel, avoidable deaths), not about one indicator
MORTALITY_TOPICS = ("shmi", "avoidable_deaths")

INTENTS = ("not_measured", "method", "trend", "peer_group", "rank", "trapped_value", "drivers", "mortality",
           "cost", "indicator", "compare", "value_position", "out_of_scope")

#: what the index leaves out: its limitations, in words a board uses
_LEAVES_OUT = (r"\b(leave|leaves|left|leaving|miss|misses|missed|missing) out\b|\bwhat'?s missing\b|\bshortcomings?\b|"
               r"\bdrawbacks?\b|\bdownsides?\b|\bweak(nesses| points?)\b|\bpitfalls?\b|\bexclud(e|es|ed)\b|"
               r"\bblind ?spots?\b|\bflaws?\b|\bgaps in (it|the index|the data|the model)\b|"
               r"\bdoes(n't| not) (capture|cover|include|account for|consider|look at)\b")
#: the index's own terms: "what is <term>?" asks for its definition
_GLOSSARY = (r"health alpha|alpha|trapped value|the value index|value index|credible intervals?|intervals?|"
             r"the convergence gate|convergence gate|convergence|r-?hat|need[- ]adjustment|the shmi funnel|funnel plot|"
             r"the shmi|shmi|sucra|a peer group|peer groups?|the cost composite|the quality composite")

_P = {
    # a unit below the trust (specialty, ward, consultant, procedure): the tables cannot answer whatever else is asked,
    # so these outweigh any other rule with its words (8 + 4)
    "not_measured": [
        (r"\bspecialt(y|ies)\b|\bservice lines?\b|\bwards?\b|\bconsultants?\b|\bsurgeons?\b|\bclinicians?\b"
         r"|\bdirectorates?\b|\bprocedures?\b|\bhrgs?\b|\bper (hip|knee|operation|procedure)\b", 12),
        (r"\b(cardiology|orthopaedics?|orthopedics?|oncology|paediatrics|pediatrics|urology|dermatology|neurology|"
         r"gastroenterology|ophthalmology|respiratory|maternity|obstetrics|general surgery|trauma and orthopaedics|"
         r"stroke|cancer services|hip replacements?|knee replacements?|cataracts?|theatres?|radiology|pathology|"
         r"imaging|pharmacy|diagnostics|critical care|intensive care|icu)\b", 12),
    ],
    "method": [
        (r"\bhow (is|are|was|were|do you|does (the|it|svi)|do they)\b.*\b(calculated|calculate|computed|compute|"
         r"derived|worked out|work out|estimated|estimate|defined|chosen|choose|picked|adjust|work|works|measured)\b",
         7),
        (r"\b(explain|describe) (how|what)\b|\bmethodology\b|\bmethod\b|\bwhat does .* mean\b|\bmeaning of\b", 6),
        (r"^(what|whats|what's) (is|are) (a |an |the )?(health alpha|trapped value|the value index|value index|"
         r"a credible interval|credible intervals?|the convergence gate|convergence gate|need adjustment|"
         r"the shmi funnel|the shmi|shmi|sucra|a peer group|peer groups?|the cost composite|"
         r"the quality composite)\??$", 7),
        (r"\bwhere does the data come from\b|\bdata sources?\b|\bwhat data\b|\blimitations?\b|\bcaveats\b"
         r"|\bdata ?sets?\b|\b(feed|feeds|go|goes|went) into (the|this|your) (index|model|score)\b"
         r"|\bhow reliable\b|\bhow accurate\b|\bcan (i|we) trust (the|these)\b|\bhow (confident|sure|certain)\b"
         r"|\bwhy does (the|svi|the index) use\b|\bwhat do(es)? (the )?\w+ (actually )?(tell|show) (us|me)\b|"
         r"\b(not|n't) (cover|include|measure)\b|" + _LEAVES_OUT, 7),
    ],
    "trend": [
        (r"\bsince (last|the last|\d{4})\b|\bover time\b|\btrend\b|\blast (year|\w+ years)\b|\byear on year\b|"
         r"\bprevious years?\b|\bhistor(y|ical)\b|\bover the (last|past)\b", 8),
        (r"\bimprov(ing|ed|ement)\b|\bgetting (better|worse)\b|\bdeteriorat\w*\b|\bchanged\b|\bhas .* moved\b", 6),
    ],
    "peer_group": [
        (r"\b(which|what) peer group\b|\bpeer group (are|is|do) (we|they|it)\b|\bwho are (our|their|its|the) "
         r"(peers|comparators)\b|\bbenchmarked against\b|\bcomparators\b|\bbelong to\b|\bwhy are we (in|compared)\b"
         r"|\bcompared (with|to) these\b|\bwhy these peers\b|\bpeer group membership\b|\bwhy is .* in (our|the|its|"
         r"their) peer group\b|\bwho else is in\b|\b(members?|membership) of\b|\b(teaching|large|medium|small|"
         r"specialist|multi-service) (peer )?group\b", 7),
    ],
    "rank": [
        (r"\brank(ed|ing|ings|s)?\b|\bleague table\b|\btop (quarter|quartile|25)\b|\bbottom (quarter|quartile|25)\b"
         r"|\bnumber one\b|\bpercentile\b|\bbest in (the )?(country|england|region)\b|\bwhere do we come\b|"
         r"\bstanding\b|\bwhere do we (sit|stand)\b|\bplaced\b|\bwhere (does|did) \w+( \w+)? (sit|stand|rank|come|"
         r"finish)\b(?! from)", 6),
    ],
    "trapped_value": [
        (r"\btrapp?ed\b|\btraped\b|\bsavings?\b|\bsave\b|(?<!press )(?<!news )\brelease\b|"
         r"\befficiency opportunit\w*\b|"
         r"\binefficien(cy|cies|t)\b|\bwasted?\b|"
         r"\bopportunity\b|\bmoney .* (trapped|locked)\b|\bunlock\b", 7),
    ],
    "drivers": [
        (r"\bdriv(e|es|ing|er|ers)\b|\bcontribut\w*\b|\bpull(s|ing)? .* down\b|\bdrag(s|ging)?\b|"
         r"\bholding .* back\b|\bexplain why\b|\bwhy is (our|the|their|its) (value|index|score|position)\b|"
         r"\bwhy is the index\b|\b(which|what) (indicators?|measures?) (move|moves|matter|matters|explain)\b|"
         r"\bquality or cost\b|\bcost or quality\b|\bwhy (are|is) (we|it|they) where\b|\bwhy .* (low|high|negative|"
         r"positive)\b|\bwhat explains\b|\bexplain\b|\bhurts? (us|our)\b|\bhelps? (us|our)\b|\blevers?\b|"
         r"\b(move|shift|lift|raise|boost|improve) (our|the|its|their) (overall )?(value )?(index|position|score|"
         r"value)\b|\bexplains (where|why|our|the|its|their)\b|\b(comes?|came) down to\b", 6),
    ],
    "mortality": [
        (r"\bmortality\b|\bshmi\b|\bdeaths?\b|\bdying\b|\bdied\b|\bdeath rates?\b|\bfunnel\b|\bsurvival\b", 6),
    ],
    "cost": [
        (r"\bcosts?\b|\bcosting\b|\bspend(ing|s)?\b|\bspent\b|\bexpensive\b|\bcheap(er)?\b|\bpric(ier|iest)\b|"
         r"\bcostlier\b|\bper (weighted |adjusted )?"
         r"admission\b|\boverspend\b|\befficient\b|\bunit costs?\b|\bcost index\b|\bcostly\b|\bpricey\b|"
         r"\bdear(er)?\b", 5),
    ],
    "compare": [
        (r"\bvs\.?\b|\bversus\b|\bcompare[sd]?\b|\bcomparison\b|\bstack up\b|\bmeasure up\b|\bbetter than\b|"
         r"\bworse than\b|\bagainst (our|the|its|their|other|similar|trusts|hospitals|organi[sz]ations|providers|"
         r"peers)\b|\bnationally\b|\bsimilar trusts\b|"
         r"\b(\w+er|more \w+|less \w+) than\b", 4),
    ],
    "value_position": [
        (r"\b(value index|quality composite|cost composite|value for money|value score|quality score|"
         r"need[- ]adjusted (value )?index)\b", 5.5),
        (r"\bvalue\b|\bhow are we doing\b|\bhow (is|are) \w+( \w+)? doing\b|\boverall\b|\bheadline\b|\bscore\b"
         r"|\bcomposite\b|\bperforming\b|\bposition\b|\bsummar(y|ise|ize)\b", 3),
    ],
}
_COMPILED = {k: [(re.compile(p), w) for p, w in v] for k, v in _P.items()}

#: Question-form features (issue 17, second stage): what the *shape* of a question says about its kind, added to the
#: rule and word scores rather than deciding first.  Written per failure class of the tuned splits (a "who/which ...
#: compare us" question asks for the peer group, a "how is X decided" question asks for the method, a comparison
#: "than expected" is no comparison with another trust ...), never per question; benchmarks/RESULTS.md (2026-12-03)
#: has the classes and the figures.  A negative weight takes evidence away.
_FORM_P = {
    "method": [
        # a term of the index's own vocabulary asked about, after any opening ("In plain terms, what's ...?")
        (r"\bwhat(?:'s| is| are|( exactly| precisely| actually) (is|are))( exactly| precisely| actually)? "
         r"(a |an |the )?(" + _GLOSSARY + r")( exactly| actually| then| again)?\??$", 7),
        # a term of the index explained, or asked what it is telling us ("the health alpha number")
        (r"^(explain|describe|define)( to (me|us))? (what )?(a |an |the |our )?(" + _GLOSSARY + r")\b|"
         r"\bwhat (is|are|does|do) (a |an |the |this |that |our )?(" + _GLOSSARY + r")( numbers?| figures?| scores?|"
         r" measures?)? (telling|tell|showing|show) (us|me)\b", 8),
        # from one quantity to another: how the index turns its inputs into its outputs
        (r"\bhow (do|does|did|can) (you|we|they|the index|svi|the model|it) (get|go|move) from\b|"
         r"\bhow (do|does|did|can) (you|we|they|the index|svi|the model|it) (turn|convert|translate|combine|"
         r"aggregate|roll up|boil down|distil|distill)\b", 10),
        # the model's own checks, in lay words ("has the model run properly?")
        (r"\b(model|models|fit|sampler)\b.*\b(run|ran|worked|fitted|converged) (properly|correctly|ok|okay|right|"
         r"as (it|they) should)\b", 7),
        (r"^(how|in what way)\b (is|are|was|were|do you|does (the|it|svi|your|this)|do they|did you)\b(?!.*\bper\b).*"
         r"(?<!-)\b(decided|decide|adjusted|adjust|calculated|computed|derived|estimated|defined|chosen|choose|picked|"
         r"weighted|determined|selected|assigned|worked out|work out|set|handled|treated|accounted|done|produced|"
         r"generated|built|constructed|created|compiled|arrived at|put together)\b", 10),
        # a definition asked for: what the term covers, whatever the term is (trapped value, a rank, a peer)
        (r"\bwhat (exactly |precisely )?(counts|qualifies|is counted|gets counted|is included|is classed) as\b|"
         r"\bwhat (is|'s) meant by\b|\bwhat do (you|we|they) mean by\b|\bhow (do|does) (you|the index|svi) define\b",
         12),
        # an explanation asked for in plain words is about a term, not a trust's figure
        (r"^(what|what's|explain|describe|define)\b.*\bin (plain|simple|lay|layman'?s?|everyday) (words|english|"
         r"terms|language)\b|\blike (i'?m|i am) (not a|a non-?|a lay|five|5)\w*|\bfor a (lay|non-?specialist|"
         r"non-?technical|non-?statistical)\b", 5),
        (r"\bwhat (does|do)\b.*\b(mean|measure|stand for|capture|represent|tell (us|me)|show (us|me))\b", 7),
        (r"^(what|whats|what's) (exactly |precisely )?(is|are) (the |a |an )?(formula|definition|methodology|method)\b|"
         r"\bwhat (exactly|precisely) (is|are)\b", 6),
        (r"\bwhy (does|do|did) (the index|svi|the model|you|it) (use|include|exclude|choose|pick|adjust|treat|"
         r"weight)\b",
         5),
        (r"\b(come|comes|came) from\b|\bsourced?\b", 4),
        (r"\b(explain|describe|walk me through|tell me about)\b.*\b(checks?|method\w*|model|approach|gate|"
         r"intervals?|adjust\w*|calculat\w*|sucra|rank\w*)\b", 7),
        (r"\bhow (do|does|did|can) (you|the index|svi|the model|we) (decide|know|handle|treat|account|deal|check|test|"
         r"validate|verify|ensure|make sure|combine|weight)\b", 4),
        (r"\bsucra\b|\br-?hat\b", 5),
        (r"\b(confidence|faith) (in|should|can|could|do|would)\b|\bhow much (confidence|faith)\b", 6),
    ],
    "peer_group": [
        (r"^(who|which (other )?(trusts|hospitals|organi[sz]ations|providers)|what (other )?(trusts|hospitals|"
         r"organi[sz]ations|providers))\b.*\b(compar\w*|benchmark\w*|group\w*|peers?|similar|like us)\b", 8),
        (r"\b(sit|sits|sitting|belong|belongs|put|placed|grouped|classed|classified)\b.*\bgroup\b|\bgrouped\b|"
         r"\b(which|what) (\w+ )?group\b", 4),
        (r"\b(peers|peer group|comparators?|comparison group) of\b|\blist (the|our|its|their) peers\b|"
         r"\bmakes? .*\b(a |our |their |its )?(peer|comparator)s?\b", 5),
        (r"\b(fair|right|reasonable|appropriate|sensible|valid)\b.*\b(compar|benchmark)\w*", 4),
        # membership asked about: is a trust in a group (not where it stands in it: no rank words)
        (r"^(is|are|was|were|isn't|aren't)\b(?!.*\b(top|bottom|best|worst|highest|lowest|quart\w*|quarter|rank\w*|"
         r"first|last)\b).*\b(in|part of|one of|a member of|among|within|inside) (our|their|its|his|her|the|that|"
         r"this) (same )?(peer group|peers|comparators|comparator group|comparison group|benchmark group|group)\b|"
         r"\bwhy (is|are|was|were|isn't|aren't) .*\b(one of|among|in|part of|not in) (our|their|its|the) (peers|"
         r"comparators|peer group|comparison group)\b|\b(the )?same (peer )?group\b", 8),
        # how a trust came to be in its group, and the group listed
        (r"\b(end|ended|ending|wind|wound|land|landed) up (in|with)\b.*\b(group|peers|comparators)\b|"
         r"\bhow (did|do|were|was|are|is) (we|they|it|\w+) (get|got|put|placed|come|came) (in|into|to be in)\b.*"
         r"\b(group|peers)\b|^(list|name|show|give)( me| us)?( all)? (the |our |its |their )?(peers?|peer trusts|"
         r"comparators|peer group)\b", 8),
        (r"\bon what (basis|grounds)\b|\bwhy (are|were|is|was) (we|it|they|\w+) (being )?(grouped|compared|"
         r"benchmarked|put|placed|lumped|bracketed|paired|clustered)\b", 6),
        # our own peers (not peer groups in general) chosen: why these comparators
        (r"\b(our|their|its) (peers|comparators|peer group|comparison group)\b.*\b(chosen|selected|picked|decided|"
         r"determined)\b|\b(lumped|bracketed|clustered) (in )?(with|together)\b|\b(with|alongside|among) (those|these) "
         r"(other )?(trusts|hospitals|organi[sz]ations|providers)\b", 6),
    ],
    "rank": [
        (r"\b(what|which) place\b|\bpecking order\b|\bout of (all|the) (the )?\w*\s*trusts\b|"
         r"\bwhere (do|does|did|are|is) .*\b(come|finish|"
         r"sit|stand|fall|place)\b.*\b(nationally|in england|in the country|among|out of|of all|in (the|our|its|their) "
         r"(region|peer group|area))\b", 5),
        # "where do we stand on X": the position on X, not a place in an order
        (r"\bwhere (do|does) \w+( \w+)? (stand|sit)( overall)? on\b", -6),
        (r"\b(best|worst|top|bottom|highest|lowest) (quarter|half|third|tenth|decile|quartile|fifth|10|25)\b", 5),
        (r"\b(sure|certain|likely|confident|chance|probability|odds)\b.*\b(top|bottom|best|worst)\b", 4),
        # who leads or trails: a place in the order, not a comparison ("Which trust comes top nationally?")
        (r"\b(come|comes|came|coming|finish|finishes|finished|ranks?|ranked|placed?)( out)? (at the )?"
         r"(top|bottom|first|last)\b|\b(is|are|was|were|sits?) at the (top|bottom)\b|"
         r"^(which|what|who)\b.*\b(the (best|worst)|top|bottom)\b.*"
         r"\b(nationally|in (england|the country|the region|the peer group|its peer group))\b", 6),
    ],
    "drivers": [
        (r"^why (is|are|does|do|has|have)\b", 4),
        (r"\b(costs?|spend|spending|money|finances?)( side)?\b.*\b(or|rather than|versus|vs|not)\b.*\b(quality|"
         r"outcomes?)\b|\b(quality|outcomes?)( side)?\b.*\b(or|rather than|versus|vs|not)\b.*\b(costs?|spend|"
         r"spending|money|finances?)\b", 7),
        (r"\bif (we|they|it) (fixed|fix|improved|improve|changed|change|sorted|sort|tackled|tackle) (one|a single|"
         r"just one)\b", 5),
        (r"\b(biggest|main|largest|single|key|greatest) (single )?(factor|reason|cause|contributor|driver|thing|"
         r"lever|influence)s?\b", 5),
        (r"\bwhat(s|'s| is| are)? (behind|pushing|pulling|lifting|dragging|depressing|boosting)\b|\bbehind (the|our|"
         r"its|their|this|that) .*\b(score|value|index|position|result)\b", 5),
        (r"\b(focus on|prioriti[sz]e|concentrate on)\b|\bto improve\b", 5),
        # which of the measures does the most (good or harm): the contributions to the index
        (r"\b(which|what) (one )?(of (our|the|its|their) )?(indicators?|measures?|metrics?|components?|domains?)\b.*"
         r"\b(most|biggest|least|largest|hardest|worst|furthest|farthest|greatest|more than any)\b", 5),
    ],
    "trapped_value": [
        (r"\bsize of the prize\b|\bclaw(ed)? back\b|\bleft on the table\b|\bfree(d)? up\b|\btied up\b|"
         r"\bfind (savings|efficienc\w*|money)\b|\bcould we (save|release|recover|get back)\b", 5),
        (r"\bif (we|they|it) (got|get|brought|bring|matched|match|reached|reach|hit|moved|move)\b", 4),
    ],
    "compare": [
        (r"\bside by side\b|\bhead to head\b|\bnext to\b|\bv\b", 4),
        # a comparison with expectation is no comparison with another trust: the question is about the measure
        (r"\b(compared? (with|to)|than|against|relative to|versus|vs) (what (is|was|would be|you'?d|we'?d|one would) )?"
         r"(expected|expect\w*|predicted|we should|it should|they should|we ought|need|our need)\b|"
         r"\bcompared? (with|to) what\b", -8),
        # ... nor is one with the trust's own past (a trend question)
        (r"\bthan (we were|it was|they were|last year|a year ago|before|previously)\b|"
         r"\bcompared? (with|to) (last|the last|the previous|the prior|a year ago)\b", -8),
    ],
    "cost": [
        # a unit cost ("per weighted outpatient attendance") is a cost figure, whatever "weighted" suggests
        (r"\bper (weighted |adjusted |case-?mix[- ]adjusted |unit of )?(\w+ )?(admission|attendance|appointment|"
         r"episode|spell|patient|case|visit|bed day|activity)s?\b", 5),
    ],
    "not_measured": [
        # a unit below the trust named by its kind ("surgical teams", "which of our units")
        (r"\b(surgical|medical|nursing|specialist|individual) (teams?|services?|units?|divisions?|departments?)\b|"
         r"\bwhich (of (our|the|its|their) )?(\w+ )?(teams|units|departments|divisions|sites|services)\b", 12),
        (r"\b(clinical|hospital) (teams?|services?|areas?|sites?|units?|divisions?)\b|\bby (department|specialty|"
         r"service|site|ward|team|division)\b|\b(hip|knee|cataract|heart|cardiac|spinal|eye) (operations?|surgery|"
         r"ops)\b", 12),
    ],
    "out_of_scope": [
        # what a population or the model "would predict" is an expectation, not a forecast
        (r"\b(would|should|might|could|you'?d|we'?d) (predict|expect)\b|\b(than|as) (predicted|expected)\b", -3),
        (r"\bcqc\b|\bofsted\b|\binspections?\b|\b(press|news|media) (release|statement|briefing|enquiry|"
         r"enquiries)\b", 7),
        # advice on an action: the index describes, it does not decide
        (r"^(should|shall|must|do|can) (we|i|the board|the trust)\b.*\b(close|recruit|hire|open|merge|invest|cut|"
         r"appoint|"
         r"buy|build|sell|employ|outsource|expand|shut)\b", 12),
        # where a service is provided from (in-house or bought in) is a sourcing decision, whatever the unit named
        (r"\b(bring|brought|bringing|take|taking|took)\b.*\bin-?house\b|\binsourc\w*|\boutsourc\w*", 13),
    ],
    "value_position": [
        (r"\bvalue for\b", 4),
        # set against what its population or need would predict: the need-adjusted position
        (r"\b(population|patients|catchment|need|needs|deprivation|case-?mix)\b.*\b(would|should|might|could) "
         r"(predict|expect|suggest)\b|\b(given|for) (our|its|their) (population|catchment)\b", 3),
        (r"\b(lowdown|low-down|rundown|run-down|overview|big picture)\b", 4),
        # outcomes for the money: value for money in other words
        (r"\boutcomes?\b.*\bfor (the|our|its|their|every|each) (money|pounds?|spend|spending|£)\b|"
         r"\b(money|spend|spending|efficient|value)\b.*\bfor the (outcomes?|results?|quality)\b", 6),
        # what the index says about the trust as a whole
        (r"\b(index|svi|figures|numbers|data|model|results?|tables?)\b.*\b(say|says|saying|tell|tells|telling|show|"
         r"shows|showing)( \w+)? about (us|ourselves|our (trust|organi[sz]ation|hospital))\??$", 6),
        (r"\bhow (does|do) (the index|svi|the svi|you) (rate|score|judge|see|view|assess)\b", 5),
    ],
    "trend": [
        # "fall on the funnel", "fall within the range": where a trust is, not a decline
        (r"\b(fall|falls|fell) (on|in|within|into|under|inside|outside|above|below)\b", -3),
        # "how many deaths ... last year": a count in one period, not a movement, unless the words say it moved
        (r"^how (many|much)\b(?!.*\b(chang\w*|compar\w*|improv\w*|since|than|differ\w*|more|fewer|less|up|down|"
         r"ris\w*|rose|fall\w*|fell|mov\w*|trend\w*|each year|per year|a year|over)\b)", -10),
        (r"\b(than|as) (we were|it was|they were|last year|a year ago|before|previously)\b|\ba year ago\b|"
         r"\b(which|what) (way|direction)\b", 5),
        # a direction of travel, a slip back, this year against the last
        (r"\b(heading|moving|going|travel\w*|trending) in the (right|wrong|same) direction\b|\bdirection of travel\b|"
         r"\b(fall|fell|fallen|falling|slip|slipped|slipping|gone|go|going|went) back(wards)?\b|"
         r"\bcompared? (with|to) (last|the last|the previous|the prior|a year ago)\b", 9),
    ],
}
_FORM = {k: [(re.compile(p), w) for p, w in v] for k, v in _FORM_P.items()}


# Indicators: their words come from their records (models/indicators.py ask_words / ask_name), read when a
# question is parsed, so an indicator registered later is understood without a change here.
def _compiled() -> dict:
    """The intent rules, with the "indicator" intent's from the records of indicators other than mortality (which
    has its own intent)."""
    ind = [(re.compile(r.ask_words), 5) for r in registry.INDICATORS.values() if r.ask_words and not r.avoidable]
    return {**_COMPILED, "indicator": ind}


_SETTING = [
    ("apc", r"\badmitted\b|\badmissions?\b|\binpatients?\b|\bapc\b|\bin-patients?\b"),
    ("op", r"\boutpatients?\b|\bout-patients?\b|\bclinics?\b"),
    ("ae", r"\ba ?(&|and) ?e\b|\bemergency department\b|\bemergency care\b|\bed\b"),
    ("total", r"\btotal\b|\boverall\b|\ball (of )?(\w+ )?settings\b|\bevery setting\b|\bacross settings\b|"
              r"\bwhole trust\b"),
]
_TOPIC = [
    ("data", r"\b(come|comes|came) from\b|\bsourced?\b|\bsources\b|\bdata ?sets?\b|\b(feed|feeds|go|goes) into\b|"
             r"\bhow (up to date|recent|current|old|fresh|timely)\b"),  # where X comes from: the data passage
    ("trapped_value", r"\btrapped\b|\bsavings?\b"),
    ("avoidable_deaths", r"\bavoidable deaths?\b|\bexcess deaths?\b"),
    ("health_alpha", r"\bhealth alpha\b|\balpha\b"),
    ("need_adjustment", r"\bneed\b|\bneed-adjust\w*\b|\badjust\w* for\b|\bdeprivation\b|\bdeprived\b|\bcase[- ]mix\b|"
                        r"\bsick(er|ness)?\b|\bpoor(er)?\b|\bpoverty\b|\billness\b|\belderly\b|\bolder\b|\bacuity\b"),
    ("peer_groups", r"\bpeer groups?\b|\bpeers\b"),
    ("intervals", r"\bcredible\b|\bintervals?\b|\buncertain\w*\b|\bconfident\b|\bconfidence\b|\bhow sure\b|"
                  r"\branges? (around|either side|on)\b|\berror bars?\b|\bmargins? of error\b|\bplus or minus\b|"
                  r"\bwhiskers\b"),
    ("convergence", r"\bconverg\w*|\bgate\b|\br-?hats?\b|\bdiagnostics?\b|\bmcmc\b|\bsampler\b|\bchains?\b|"
                    r"\bdivergen\w*|\beffective sample\b|\b(run|ran|worked|fitted) (properly|correctly)\b"),
    ("ranks", r"\brank\w*\b|\bleague\b|\bsucra\b|\bquartiles?\b|\b(top|bottom) (quarter|25|half)\b|"
              r"\b(probabilit(y|ies)|chances?|odds) of (being|coming|finishing|ending)\b"),
    ("cost", r"\bcost composite\b|\bcosts?\b"),
    ("limitations", r"\blimitations?\b|\bcaveats?\b|\bweakness\w*\b|\breliab\w*\b|\brobust\w*\b|"
                    r"\b(not|n't) (cover|include|measure)\b|" + _LEAVES_OUT),
    ("data", r"\bdata\b|\bsources?\b"),
    ("shmi", r"\bshmi\b|\bfunnel\b|\bmortality\b"),
    ("value_index", r"\bvalue index\b|\bindex\b|\bvalue\b|\bscore\b|\bquality composite\b"),
]
_PEERS = (r"\bpeers?\b|\bpeer (group|median|average|benchmark)\b|\b(similar|comparable) (trusts|hospitals|"
          r"organi[sz]ations|providers)\b|\b(trusts|hospitals) like (us|ours)\b")
_ENGLAND = (r"\bnational(ly)?\b|\bengland\b|\bacross the country\b|\bin the country\b|\brest of (the country|"
            r"england|the nhs)\b|\b(the )?whole (country|of england|nhs)\b|\bcountry-?wide\b|"
            r"\ball (the |of the )?(acute |english |nhs )?(trusts|hospitals)\b")
_REGION = r"\bregion(al|ally)?\b|\bneighbou?ring trusts\b|\b(our|the|its|their) (patch|ics|icb)\b"
_WE = re.compile(r"\b(we|our|us|ours|we're|were)\b")
_COMPARE_CUE = re.compile(r"\b(vs\.?|versus|compare[sd]?|against|than|with|and)\s*$")

#: the parser's own words, which never count as part of a trust name
STOP = frozenset("""value index trapped cost costs peers peer rank ranking mortality waiting times emergency
department patient experience compare versus against where which what when how many much more most less least
admission admitted outpatients outpatient trend quarter quartile better worse nationally region doing
spend spending expensive deaths death drivers driving score setting settings position quality composite english
england trust trusts average median benchmark chance odds likely between weather""".split())


@dataclass
class Parsed:
    question: str
    intent: str
    trust: str | None = None  # ODS code; "?" when the name was ambiguous
    other: str | None = None  # ODS code, "peers", "england", "region", or "?"
    indicator: str | None = None
    setting: str | None = None
    topic: str | None = None
    candidates: dict = field(default_factory=dict)  # "trust"/"other" -> codes, when ambiguous
    scores: dict = field(default_factory=dict)
    unsure: str | None = None  # a second intent scoring within MARGIN: the asker is asked which was meant
    text: str = ""  # the question as the intent classifiers read it (normalised, spelt, opening stripped)

    def entities(self) -> dict:
        return {"trust": self.trust, "other": self.other, "indicator": self.indicator, "setting": self.setting,
                "topic": self.topic}


def _first(pairs, text: str) -> str | None:
    for key, pat in pairs:
        if re.search(pat, text):
            return key
    return None


def normalise(q: str) -> str:
    q = q.lower().replace("\u2019", "'").replace("\u2018", "'")
    q = re.sub(r"\bwhats\b", "what's", q)
    q = re.sub(r"\s+", " ", q).strip()
    return q


#: intents that say *what about* (a measure) rather than *what kind of question*: their rule and word evidence is
#: one piece of evidence (the larger of the two, not their sum), so a question-type cue can outvote a measure word
TOPIC = ("value_position", "cost", "mortality", "indicator")
#: below this total, nothing places the question: it is out of scope
WEAK = 2.0
#: a synonym-set score this high is a word that on its own says what is asked
STRONG = 3.0
#: ask back when the two best word scores are closer than this and no rule or form placed the question
MARGIN = 1.0


def _total(rules: dict, cues: dict, form: dict) -> dict:
    """Each intent's score.  A measure intent's evidence counts at half when the question also says what kind of
    question it is (a question-type rule, a strong question-type word or a form feature): "has our value index
    fallen?" is a trend question about the value index."""
    out = {i: rules.get(i, 0) + cues.get(i, 0) + form.get(i, 0) for i in INTENTS if i not in TOPIC}
    kind = any(v >= STRONG for v in out.values())
    for i in TOPIC:
        out[i] = max(rules.get(i, 0), cues.get(i, 0)) * (0.5 if kind else 1.0) + form.get(i, 0)
    return {i: out[i] for i in INTENTS}


def classify(text: str, stems: list[str] | None = None) -> tuple[str, dict, str | None]:
    """The intent, the evidence, and a second intent to offer when the two are too close to choose.

    A scored classifier (issue 17, second stage): each intent's score is its best rule weight (:data:`_P`) plus its
    word score (:mod:`.lexicon`'s synonym sets, capped) plus its question-form features (:data:`_FORM_P`, which may
    be negative); for the measure intents (:data:`TOPIC`) the rule and the words count once.  The highest score
    wins, ties going to the intent listed first in :data:`INTENTS`; below :data:`WEAK`, out of scope.  When neither
    a rule nor a form feature fired and the two best word scores are within :data:`MARGIN`, the question is asked
    back rather than guessed."""
    rules = {}
    for intent, pats in _compiled().items():
        s = max((w for p, w in pats if p.search(text)), default=0)
        if s:
            rules[intent] = s
    cues = cue_scores(stems if stems is not None else [stem(w) for w in tokens(text)])
    rest = claimed(text)  # "not measured" is read only from words no indicator record claims
    if rest != text:
        nm_rule = max((w for p, w in _COMPILED["not_measured"] + _FORM["not_measured"] if p.search(rest)), default=0)
        nm_cue = cue_scores([stem(w) for w in tokens(rest)]).get("not_measured", 0)
        rules.pop("not_measured", None)
        if nm_rule:
            rules["not_measured"] = nm_rule
        cues.pop("not_measured", None)
        if nm_cue:
            cues["not_measured"] = nm_cue
    ind = indicator_of(text)  # the indicator records' words are the measure intents' words too
    if ind:
        key = "mortality" if registry.get(ind).avoidable else "indicator"
        cues[key] = max(cues.get(key, 0), STRONG)
    form = {}
    for intent, pats in _FORM.items():
        ws = [w for p, w in pats if p.search(rest if intent == "not_measured" else text)]
        if ws:
            form[intent] = max(w for w in ws if w > 0) if any(w > 0 for w in ws) else 0
            form[intent] += sum(w for w in ws if w < 0)
    total = _total(rules, cues, form)
    scores = {"rules": rules, "cues": cues, "form": form, "total": total}
    ranked = sorted(INTENTS, key=lambda i: (-total[i], INTENTS.index(i)))
    best = ranked[0]
    if total[best] < WEAK:
        return "out_of_scope", scores, None
    unsure = None
    if not rules and not any(v > 0 for v in form.values()):
        pool = sorted((i for i in cues if cues[i] >= WEAK), key=lambda i: (-cues[i], INTENTS.index(i)))
        if len(pool) > 1 and cues[pool[0]] - cues[pool[1]] < MARGIN:
            unsure = pool[1]
    return best, scores, unsure


#: the rules' and form features' own words, for the typo corrector (lexicon.VOCAB holds the synonym sets' words)
RULE_WORDS = pattern_words([p for v in (*_P.values(), *_FORM_P.values()) for p, _ in v] +
                           [p for _, p in _SETTING + _TOPIC])


#: a polite or framing opening that says nothing about the question ("Quick question: ", "Could you tell me ");
#: stripped before the question-form features, several of which read the question's first words
_PREAMBLE = re.compile(
    r"^((please|ok|okay|so|right|hi|hello|quick question|one more|another one|just wondering|i was wondering|"
    r"for the (board paper|board|committee|meeting|report)|(could|can|would|will) you (please )?(tell|show|give) me|"
    r"(could|can|would|will) you (please )?(let me know|find out|check)|please (tell|show|let) me( know)?|"
    r"i'?d like to know|i would like to know|i want to know|i need to know|do you know|tell me|let me know)"
    r"\b[\s,:;.!-]*)+")


def strip_preamble(text: str) -> str:
    """``text`` without an opening such as "Quick question:" or "Could you tell me" (the question itself kept)."""
    rest = _PREAMBLE.sub("", text)
    return rest if len(rest.split()) >= 2 else text


def spell(text: str, register: Register) -> str:
    """``text`` with misspelt vocabulary words corrected (trust-name words are left to :class:`Register`)."""
    return re.sub(r"[a-z]+", lambda m: correct(m.group(0), register._vocab_word, RULE_WORDS), text)


def parse(question: str, register: Register, context: str | None = None, hybrid=None) -> Parsed:
    """Intent and entities of ``question``; ``context`` is the asker's own trust (``--trust``), if any.

    ``hybrid`` (an :class:`analysis.ask.learned.Hybrid`): the rules' intent is put to the learned model, which places
    what the rules leave open and overrules them when it is sure (:func:`analysis.ask.learned.combine`); the
    entities are then read for the intent it chose, by the same rules.  ``None``: the rules alone."""
    rules = p = _parse(question, register, context)
    if hybrid is None:
        return p
    intent, unsure, proba = hybrid.decide(p.text, p.intent, p.unsure)
    if (intent, unsure) != (p.intent, p.unsure):
        p = _parse(question, register, context, force=intent)
    best = max(proba, key=lambda k: (proba[k], k))
    p.scores["model"] = {"intent": best, "p": round(proba[best], 3), "rules": rules.intent,
                         "rules_unsure": rules.unsure}
    return p


def _parse(question: str, register: Register, context: str | None = None, force: str | None = None) -> Parsed:
    """:func:`parse` by the rules; ``force``: this intent in place of the rules' (entities read for it)."""
    text = spell(normalise(question), register)
    intent, scores, unsure = classify(strip_preamble(text))
    if force is not None:
        intent, unsure = force, None
    # no question words placed it, but it names a measure: answer about the measure
    if not scores["rules"] and not unsure and intent == "out_of_scope":
        ind, st = indicator_of(text), _first(_SETTING[:3], text)
        intent = ("mortality" if ind and registry.get(ind).avoidable else "indicator" if ind else "cost" if st
                  else intent)
    mentions: list[Mention] = register.find(question)
    we = bool(_WE.search(text))

    # -- trusts: who is asking about whom
    subject: Mention | None = None
    other: Mention | None = None
    if len(mentions) >= 2:
        subject, other = mentions[0], mentions[1]
    elif len(mentions) == 1:
        m = mentions[0]
        words_before = " ".join(re.findall(r"[a-z0-9&']+", text))  # for the cue test below
        before = " ".join(words_before.split()[: m.start])
        if context and (we or _COMPARE_CUE.search(before)) and m.codes != [context]:
            other = m
        elif not context and we and _COMPARE_CUE.search(before):
            other = m
        else:
            subject = m
    p = Parsed(question, intent, scores=scores, unsure=unsure, text=strip_preamble(text))
    if subject is not None:
        p.trust = subject.codes[0] if not subject.ambiguous else "?"
        if subject.ambiguous:
            p.candidates["trust"] = subject.codes
    else:
        p.trust = context
    if other is not None:
        p.other = other.codes[0] if not other.ambiguous else "?"
        if other.ambiguous:
            p.candidates["other"] = other.codes
    elif intent not in ("peer_group", "method"):
        if re.search(_PEERS, text):
            p.other = "peers"
        elif re.search(_ENGLAND, text):
            p.other = "england"
        elif re.search(_REGION, text):
            p.other = "region"
    # a named second trust makes it a comparison (for cost, a single indicator or drivers only with a comparison cue)
    cue = (scores["rules"].get("compare", 0) or scores["cues"].get("compare", 0) >= STRONG or
           scores["form"].get("compare", 0) > 0 or bool(re.search(r"\bthan\b", text)))
    if other is not None and (intent in ("value_position", "mortality") or
                              intent in ("cost", "indicator", "drivers") and cue):
        p.intent = intent = "compare"
    # a measure compared with peers, England or a target (no second trust named) is a question about the measure,
    # whose answer already sets it against its benchmark: "How does our FFT compare with peers?"
    if intent == "compare" and other is None:
        ev = {i: max(scores["rules"].get(i, 0), scores["cues"].get(i, 0)) for i in ("cost", "mortality", "indicator")}
        best = max(ev, key=lambda i: (ev[i], -INTENTS.index(i)))
        if ev[best] >= STRONG:
            p.intent = intent = best

    # -- what about
    if intent in ("cost", "trapped_value"):
        named = [k for k, pat in _SETTING[:3] if re.search(pat, text)]
        # "admitted, outpatient or A&E" names no one setting
        p.setting = None if len(named) > 1 else _first(_SETTING, text)
        if intent == "cost" and p.setting is None and re.search(r"\bper (weighted |adjusted )?admission", text):
            p.setting = "apc"
    else:
        p.indicator = indicator_of(text)
    if intent == "mortality":
        p.indicator = registry.mortality_name()
    if intent == "method":
        p.topic = _first(_TOPIC, text) or "value_index"
        if p.topic in MORTALITY_TOPICS:
            p.indicator = None
    if intent in ("value_position", "drivers", "trend", "peer_group", "not_measured", "out_of_scope", "rank",
                  "trapped_value", "cost"):
        p.indicator = None  # these answers are not about one indicator
    return p
