"""Does a piece of policy text read like an instruction to an AI assistant? English and Chinese.

A policy is written to people: officers, committees, borrowers. Text that tells *the assistant* to drop
its rules, to say a given word, to take on a role, or to approve a loan does not belong in one, and is
the shape a planted instruction takes. `classify` looks for those imperative addresses:

- `override`: "ignore / forget / disregard your (previous) instructions", 忘记/忽略你的规则、之前的指令;
- `output`: "output / print / respond with 'X'", 输出“X”, 只回答……;
- `role`: "you are now", "act as an AI", "pretend to be", role-play, 你现在是, 请扮演, 假装;
- `ai_address`: "as an AI language model", "dear assistant", 作为AI, 致AI助手;
- `system_prompt`: "system prompt", "developer mode", chat-template markup, 系统提示, 开发者模式, 越狱;
- `approval`: "approve this loan regardless", "always approve", 直接批准, 无条件放款.

It reads past obfuscation: hidden characters (zero-width, bidi, tags) are dropped, full NFKC folds
full-width and mathematical letters, common Cyrillic and Greek look-alikes become Latin, letters spaced
out ("i g n o r e") or split by punctuation in Chinese ("忽 略", "忽.略") are joined, and light leetspeak
("1gn0re") is read as letters. Phrases are anchored on who is addressed (your, previous, 你, 之前) so the
policy's own "the officer shall disregard the valuation" or "在风险管理中扮演重要角色" is not flagged; a
negated prohibition ("must not ignore the previous instructions") is not either. Rules, not a model: a
model would need weights from a hub, and these are explainable line by line. The committed test set and
its false-positive run over the sample policies and corpora are in bench/injection_bench.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from xiaoshen.safetext import strip_invisible
from xiaoshen.types import Clause

Kind = Literal["override", "output", "role", "ai_address", "system_prompt", "approval"]

REASONS: dict[str, dict[str, str]] = {
    "override": {"en": "tells the assistant to ignore or forget its instructions",
                 "zh": "要求助手忽略或忘记其指令"},
    "output": {"en": "dictates what the assistant should output", "zh": "规定助手应输出的内容"},
    "role": {"en": "assigns the assistant a role or persona", "zh": "要求助手扮演角色"},
    "ai_address": {"en": "addresses an AI assistant", "zh": "直接对AI助手说话"},
    "system_prompt": {"en": "refers to the assistant's system prompt or chat markup",
                      "zh": "涉及助手的系统提示或对话标记"},
    "approval": {"en": "orders a loan to be approved", "zh": "要求直接批准贷款"},
}


@dataclass(frozen=True)
class Finding:
    """Why a text reads like an instruction to an assistant: the kind and the words (as folded)."""

    kind: Kind
    words: str

    def reason(self, language: str = "en") -> str:
        """One line for the Library, the CLI and answer warnings."""
        return f"{REASONS[self.kind]['zh' if language == 'zh' else 'en']}: “{self.words}”"

    def stored(self) -> str:
        """The form kept in clause metadata: '<kind>: <words>'."""
        return f"{self.kind}: {self.words}"


# --- folding ---------------------------------------------------------------------------------------

# Cyrillic and Greek letters that look like Latin ones (a light version of Unicode TR39's confusables).
_LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h",
    "ԛ": "q", "ԝ": "w", "ӏ": "l", "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ℓ": "l", "ı": "i",
    "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "«": '"', "»": '"', "「": '"', "」": '"',
    "『": '"', "』": '"',
})
_LEET_I = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                         "!": "i", "|": "l", "+": "t"})
_LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                         "!": "i", "|": "l", "+": "t"})
_LEET_TOKEN = re.compile(r"[a-z0-9@$!|+]*[a-z][a-z0-9@$!|+]*")
_SPACED = re.compile(r"(?<![\w@$])(?:[a-z0-9@$][ \t._\-*·,/|]{1,3}){2,}[a-z0-9@$](?![\w@$])")
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[\s._\-*·,/|~^`'\"]+(?=[{_CJK}])")


def fold(text: str) -> str:
    """The text as the classifier reads it: no hidden characters, full NFKC, case-folded, look-alikes
    made Latin, one space between words."""
    # Tag characters are an invisible copy of ASCII: read them as the letters they hide, then drop the rest.
    text = _TAG_RUN.sub(lambda m: "".join(chr(ord(c) - 0xE0000) for c in m.group()), text)
    text = unicodedata.normalize("NFKC", strip_invisible(text)).casefold().translate(_LOOKALIKES)
    return re.sub(r"\s+", " ", text).strip()


def views(text: str) -> list[str]:
    """The folded text, the same with spaced-out letters joined and Chinese gaps closed, and that with
    leetspeak read as letters."""
    base = fold(text)
    joined = _SPACED.sub(lambda m: re.sub(r"[ \t._\-*·,/|]", "", m.group()), base)
    joined = _CJK_GAP.sub("", joined)
    return list(dict.fromkeys([base, joined, _LEET_TOKEN.sub(_unleet, joined)]))


def _unleet(match: re.Match[str]) -> str:
    """A token with digits or symbols among its letters, read as letters: "1" as i or l, whichever makes a
    word the rules look for ("1gn0r3" → ignore, "ru1es" → rules)."""
    token = match.group()
    if token.isalpha():
        return token
    as_i, as_l = token.translate(_LEET_I), token.translate(_LEET_L)
    return as_l if as_l in _vocabulary() and as_i not in _vocabulary() else as_i


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    return frozenset(w for _, p, _ in _EN for w in re.findall(r"[a-z]{3,}", p.pattern))


# --- English --------------------------------------------------------------------------------------

_QUAL = (r"(?:all|any|every|each|the|your|my|our|its|these|those|such|of|prior|previous|preceding|earlier|"
         r"above|foregoing|former|initial|original|old|existing|current|system|safety|default|developer|"
         r"built-in|given|other|above-mentioned|aforementioned)")
_STRONG = re.compile(r"\b(?:your|my|all|any|every|prior|previous|preceding|earlier|above|foregoing|former|"
                     r"initial|original|system|safety|default|developer|built-in|aforementioned|"
                     r"you (?:have|'ve) been given|you were given)\b")
_OBJ = (r"(?:instructions?|prompts?|rules?|directives?|guidelines?|guardrails?|constraints?|restrictions?|"
        r"programming|training|context|messages?|commands?|orders?|settings?|configuration|limitations?|"
        r"filters?|safeguards?|principles?|guidance|polic(?:y|ies))")
_VERB = (r"(?:ignore|disregard|forget|skip|bypass|override|overrule|drop|abandon|discard|neglect|set aside|"
         r"throw out|cancel|erase|stop following|do not follow|don't follow|no longer follow|pay no attention to)")
_AI = (r"(?:ai|a\.i\.|artificial intelligence|assistant|ai assistant|chatbot|chat bot|bot|llm|language model|"
       r"large language model|ai model|gpt|chatgpt|claude|copilot|xiaoshen|小审)")
_Q = r"[\"'`]"

_EN: list[tuple[Kind, re.Pattern[str], bool]] = [  # (kind, pattern, needs a word from _STRONG in the match)
    ("override", re.compile(rf"\b{_VERB}\s+(?:about\s+)?(?:{_QUAL}\s+){{0,4}}{_OBJ}\b(?:\s+(?:above|before|so far|"
                            rf"you (?:have|'ve) been given|you were given))?"), True),
    ("override", re.compile(r"\b(?:supersedes?|overrides?|replaces?|takes? precedence over|cancels?)\s+(?:all\s+|any\s+)?"
                            r"(?:previous|prior|earlier|above|other|your)\s+(?:instructions?|prompts?|directives?)\s*[:;,.]"
                            r"\s*\w"), False),
    ("override", re.compile(r"\btreat\s+(?:everything|all|anything|the text|what(?:ever)? (?:comes|came|was written))\s+"
                            r"(?:(?:before|above)\s+(?:this\s+(?:line|point|sentence)\s+)?)?as\s+(?:outdated|obsolete|"
                            r"void|invalid|cancelled|canceled|a test|irrelevant)\b|\b(?:everything|all)\s+(?:above|before"
                            r"\s+this(?:\s+line)?)\s+(?:is|was)\s+(?:outdated|obsolete|void|invalid|a test|irrelevant)\b"),
     False),
    ("override", re.compile(r"\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?|everything\s+)?(?:the\s+|what(?:ever)?"
                            r"\s+(?:is|was|you were)\s+(?:written|said|stated|told)\s+)?(?:above|previous|preceding|"
                            r"foregoing|before)(?=\s*(?:[.,;:!)]|$|and\b|then\b))"), False),
    ("override", re.compile(r"\b(?:ignore|disregard|forget)\s+(?:everything|all|anything)\s+(?:(?:that\s+)?(?:you|i|we)"
                            r"\s+(?:were|was|have been|'ve been|had been)\s+(?:told|given|said|taught)|(?:you|you've)\s+"
                            r"(?:know|learned|been told)|(?:said|written|stated)?\s*(?:above|before|so far|earlier))"),
     False),
    ("override", re.compile(r"\b(?:new|updated|real|actual|true|secret|hidden|override)\s+(?:instructions?|prompt|task|"
                            r"directives?|orders?)\s*:"), False),
    ("override", re.compile(rf"\b(?:instructions?|message|note|orders?)\s+(?:for|to)\s+(?:the\s+|any\s+)?{_AI}\s*:"), False),
    ("output", re.compile(rf"\b(?:output|print(?: out)?|respond(?: only)? with|reply(?: only)? with|answer(?: only)? with|"
                          rf"(?:just|only|simply|always)\s+(?:say|answer|respond|reply|output|print|write)|say only|"
                          rf"respond|reply)\s*:?\s*(?:only\s+|just\s+|exactly\s+|simply\s+|the\s+(?:word|words|text|phrase|"
                          rf"string|sentence|answer)\s+)?{_Q}"), False),
    ("output", re.compile(r"\b(?:your|the assistant's|the ai's|the model's)\s+(?:final\s+)?(?:answer|response|reply|"
                          r"output|verdict|decision|recommendation)\s+(?:must|should|shall|will|has to|is to)\s+"
                          r"(?:always\s+|only\s+)?(?:be|say|read|contain|state|begin with|start with|include)\b"), False),
    ("output", re.compile(r"\b(?:respond|reply|answer|output|print)\s+(?:only\s+|just\s+)?(?:with\s+)?"
                          r"(?:\"|')?\s*(?:approved|loan approved|application approved)\b"), False),
    ("output", re.compile(r"\b(?:begin|start|end|open|close|prefix)\s+your\s+(?:answer|response|reply|output|summary)\s+"
                          r"with\b|\b(?:reply|respond|answer)\s+in\s+(?:the|this)\s+(?:format|form)\b|\bformat\s+your\s+"
                          r"(?:answer|response|reply|output)\b|\bwhen\s+(?:summari[sz]ing|answering|asked about|processing)\s+"
                          r"(?:this|the)\s+(?:document|policy|text|clause|file|application),?\s+(?:always\s+)?(?:state|say|"
                          r"write|mention|report|claim|conclude|answer)\b|\b(?:do not|don't|never|must not)\s+(?:mention|"
                          r"reveal|disclose|show)\s+(?:[\w-]+\s+){1,5}to\s+the\s+(?:user|officer|reviewer|analyst|human|"
                          r"reader)\b|\b(?:tell|assure|convince)\s+the\s+(?:user|officer|reviewer|analyst|human|reader)\b"),
     False),
    # Steering the answer, granting permissions, and instructions aimed at whoever (or whatever) answers.
    ("output", re.compile(r"\b(?:when|before|while)\s+you\s+(?:answer|reply|respond|summari[sz]e)\b|\bin\s+your\s+"
                          r"(?:reply|answer|response|summary|output)\s*,?\s+(?:claim|say|state|write|assert|report|"
                          r"mention|confirm|conclude)\b|\b(?:whatever|no matter what)\s+(?:the\s+)?(?:officer|user|"
                          r"reviewer|anyone|they)\s+asks?\b|\b(?:the\s+)?(?:next|following|any)\s+question\s+with\b|"
                          r"\b(?:single|one)\s+word\s*:|\boutput\s+only\s*:|\bdo\s+what\s+i\s+say\b"), False),
    ("override", re.compile(rf"\bset\s+aside\s+(?:[\w-]+\s+){{0,3}}{_OBJ}\s+(?:you|that you)\b|\b(?:your|the)\s+"
                            r"(?:real|true|actual|only|new)\s+(?:job|task|purpose|goal|role|mission)\s+is\b|"
                            r"\byou\s+(?:have|are given|now have)\s+(?:permission|authority|clearance)\s+to\b|\byou\s+are\s+"
                            r"(?:allowed|authori[sz]ed|permitted|free)\s+to\s+(?:skip|ignore|bypass|approve|waive)\b|"
                            r"\b(?:the\s+)?previous\s+(?:paragraphs?|text|sections?|content)\s+(?:was|were|is)\s+(?:a\s+)?"
                            r"(?:test|fake|outdated|void|not real)\b|\bforget\s+(?:the|all|any)\s+(?:[\w-]+\s+)?"
                            r"(?:limits?|caps?|checks?|requirements?|covenants?|policy|policies)\b(?=[^.]*\b(?:you|assistant|"
                            r"answer|reply)\b)|\bignore\s+(?:the\s+)?[\w-]+\s+(?:cap|limit|requirement|rule|check)s?\b"
                            r"[^.]{0,40}\bwhen\s+you\b"), False),
    ("ai_address", re.compile(r"\b(?:to|for)\s+(?:any|all|every)\s+(?:automated|automatic|ai|machine)\s+(?:reviewers?|"
                              r"systems?|agents?|readers?|assistants?)\b|\bbe\s+a\s+(?:helpful|good|obedient)\s+"
                              r"(?:assistant|ai|bot|model)\b"), False),
    ("role", re.compile(r"\bsimulate\s+(?:an?|the)\s+(?:[\w-]+\s+){0,2}(?:underwriter|officer|approver|assistant|ai|"
                        r"banker|reviewer|model)\b|\broleplay\s+as\b"), False),
    ("system_prompt", re.compile(r"(?:^|[.!?;]\s+)override\s*:"), False),
    ("role", re.compile(r"\byou(?:\s+are|'re)\s+now\b|\bfrom now on,?\s+(?:you|your|respond|reply|answer|output|say|act|behave|ignore|only)\b|\byou\s+(?:will|must|shall|should)"
                        r"\s+now\s+(?:act|behave|be|pretend|respond)\b"), False),
    ("role", re.compile(rf"\b(?:act|behave|respond|operate|function|serve)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+|the\s+)?"
                        rf"(?:[\w-]+\s+){{0,2}}?(?:{_AI}|dan|jailbroken|unrestricted|unfiltered|uncensored|evil|"
                        rf"developer mode)\b"), False),
    ("role", re.compile(r"\bact\s+as\s+if\s+you\s+(?:are|were)\b"), False),
    ("role", re.compile(r"\bpretend\s+(?:to\s+be|you\s+are|you're|that\s+you)\b|\bimagine\s+(?:that\s+)?you\s+are\b|"
                        r"\brole[\s-]?play(?:ing)?\s+as\b|\blet'?s\s+role[\s-]?play\b|\bplay\s+the\s+(?:role|part)\s+of\b|"
                        r"\byour\s+new\s+(?:role|persona|identity|task|name|instructions?)\b|"
                        r"\byou\s+(?:are|have)\s+(?:no longer|not)\s+(?:an?\s+)?(?:ai|assistant|bound|restricted|limited|"
                        r"constrained)\b|\byou\s+have\s+no\s+(?:rules|restrictions|limits|filters|guidelines)\b"), False),
    ("ai_address", re.compile(r"\bas\s+an?\s+(?:ai|artificial intelligence|language model|large language model|llm|"
                              r"ai assistant|ai model|chatbot)\b"), False),
    ("ai_address", re.compile(rf"\b(?:dear|hey|hi|hello|attention|note to|message to|message for|reminder to|instructions?"
                              rf"\s+(?:for|to))\s*,?\s+(?:the\s+|any\s+|all\s+)?{_AI}\b|\bif\s+you\s+are\s+an?\s+{_AI}\b|"
                              rf"\b(?:any|an|the)\s+{_AI}s?\s+(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing)"
                              rf"\s+this\b"), False),
    ("ai_address", re.compile(r"(?:^|[.!?;:>\-]\s*)(?:assistant|xiaoshen|ai|chatbot|bot|copilot|chatgpt|gpt|llm)\s*[,:]"
                              r"\s*(?:please\s+|now\s+)?(?:ignore|approve|recommend|say|tell|output|print|respond|reply|"
                              r"answer|write|you|do|don't|forget|disregard|act|pretend|state|skip|treat|mark|rate|list)\b|"
                              r"\b(?:as|i am|i'm)\s+your\s+(?:developer|creator|administrator|admin|owner|operator|"
                              r"programmer|master|maker)\b|\bthe\s+(?:assistant|ai|chatbot|model|llm)\s+(?:should|must|"
                              r"shall|will|is to|needs to)\s+(?:always\s+|now\s+)?(?:tell|say|state|answer|respond|reply|"
                              r"recommend|approve|ignore|output|confirm|report)\b"), False),
    ("system_prompt", re.compile(r"\b(?:system|admin|administrator|security|developer|emergency|root)\s+override\b|"
                                 r"\boverride\s+mode\b"), False),
    ("system_prompt", re.compile(r"\bsystem\s+(?:prompt|message|instructions?)\b|\b(?:developer|debug|god|jailbreak|dan)"
                                 r"\s+mode\b|\bjailbr(?:eak|oken)\b|\bdo anything now\b|\breveal\s+(?:your|the)\s+"
                                 r"(?:system\s+)?(?:prompt|instructions)\b"), False),
    ("system_prompt", re.compile(r"<\|?\s*(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\s*\|?>|\[/?(?:inst|sys)\]|"
                                 r"<<\s*/?sys\s*>>|</?\s*(?:system|assistant|instructions?)\s*>|(?:^|\s)#{2,}\s*"
                                 r"(?:system|instructions?)\s*(?::|$)"), False),
    ("approval", re.compile(r"\b(?:approve|accept|grant|greenlight|authori[sz]e|sign off on)\s+(?:this|the|my|our|any|every|"
                            r"all)\s+(?:[\w-]+\s+)?(?:loans?|applications?|credit|requests?|facility|facilities|deals?)\s+"
                            r"(?:regardless|without (?:any )?(?:checks?|review|question|conditions?|exception)|immediately|"
                            r"automatically|unconditionally|no matter|anyway|at once|right now|now)\b"), False),
    ("approval", re.compile(r"\b(?:always|automatically|unconditionally|immediately|just|simply)\s+approve\b|"
                            r"(?:^|[.!?;:]\s+)approve\s+this\s+(?:loan|application|request|credit|facility)\b|"
                            r"\bmark\s+(?:this|the)\s+(?:loan|application|request)\s+as\s+approved\b"), False),
]
# "must not ignore the previous instructions": a prohibition, not an instruction to the assistant.
_EN_NEGATION = re.compile(r"\b(?:not|never|no|cannot|can't|won't|mustn't|shouldn't|don't|doesn't|nor)\s+(?:\w+\s+){0,2}$")

# --- Chinese --------------------------------------------------------------------------------------

_ZV = (r"(?:忘记|忘記|忘掉|忘了|忽略|忽视|忽視|无视|無視|不要理会|不要理會|不用理会|别理会|不理会|抛开|拋開|抛弃|丢弃|"
       r"绕过|繞過|跳过|跳過|无需遵守|无须遵守|不必遵守|不用遵守|不要遵守|别遵守|停止遵守|不再遵守|放弃|放棄)")
_ZO = (r"(?:规则|規則|指令|指示|提示词|提示詞|提示|设定|設定|设置|設置|约束|約束|限制|命令|规定|規定|要求|规矩|"
       r"準則|准则|政策|守则|守則|策略|上下文|语境)")
_ZH_STRONG = re.compile(r"你|您|之前|以前|此前|先前|前面|上面|上述|以上|原有|原来|原來|原先|系统|系統|上下文|语境")
_ZAI = r"(?:ai|人工智能|语言模型|語言模型|大语言模型|大模型|ai助手|智能助手|聊天机器人|聊天機器人|助手|机器人|機器人|模型|小审)"
_ZQ = r"[\"'“”‘’「」『』]"

_ZH: list[tuple[Kind, re.Pattern[str], bool]] = [
    ("override", re.compile(rf"{_ZV}[^。；！？，,;.!?]{{0,8}}?{_ZO}"), True),
    ("override", re.compile(rf"{_ZV}(?:了|掉)?(?:所有|全部|一切|任何)(?:的)?{_ZO}"), False),
    ("override", re.compile(rf"把(?:你|您)的?[^。；！？，,]{{0,6}}{_ZO}(?:都|全)?(?:忘掉|忘记|忘了|抛开|丢掉|放一边)"), False),
    ("override", re.compile(r"(?:新的|新|真正的|最新)(?:指令|指示|任务|任務|命令)[:：]"), False),
    ("override", re.compile(r"优先于(?:之前|以前|此前|上述|以上|先前|前面)?的?(?:所有|全部|一切)?的?(?:指令|指示|提示|规则)|"
                            r"優先於(?:之前|以前|此前|上述|以上|先前|前面)?的?(?:所有|全部|一切)?的?(?:指令|指示|提示|規則)|"
                            r"(?:把|将|將)(?:前面|上面|之前|以上|上述)的?(?:内容|內容|指令|指示|规则|規則|一切)(?:都|全部)?"
                            r"(?:当作|當作|视为|視為|当成|當成)(?:过时|過時|无效|無效|作废|作廢|废弃)"), False),
    ("output", re.compile(rf"(?:输出|輸出|打印|只说|只說|就说|就說|直接说|直接說|请说|請說|只回答|只回复|只回覆|仅回答|僅回答|"
                          rf"仅输出|僅輸出|只输出|只輸出|直接回答|直接回复|直接输出|请回答|请回复|请输出)"
                          rf"(?:[:：]|为|為|是|成)?{_ZQ}"), False),
    ("output", re.compile(r"(?:只|仅|僅|直接|一律|请|請)(?:输出|輸出|回答|回复|回覆|答复|说|說)(?:为|為|是|成)?[:：]?"
                          r"(?:已批准|批准|同意|通过|通過|已通过|是)"), False),
    ("output", re.compile(r"(?:回答|回复|回覆|输出|輸出|答复)格式[:：]|总结(?:本|这份|这个|该)?(?:文件|文档|制度|内容|规程)时|"
                          r"告诉(?:用户|使用者|提问者)|(?:不要|别|切勿)向(?:用户|客户经理|审批人|提问者|使用者)(?:提及|透露|提到|说明)|"
                          r"(?:你|您)(?:必须|一定要|务必|只能|应当|应该)(?:回答|回复|输出|说|告诉|表示|确认|声称)"), False),
    ("output", re.compile(r"(?:无论|不管)(?:客户经理|用户|审批人|对方|别人|谁)(?:问|询问)(?:什么|啥)|(?:回答|回复|答复)时(?:不用|不必|无需|"
                          r"不要)(?:考虑|理会|管)|用一个(?:词|字)回答|(?:下一个|接下来的)问题|在(?:回复|回答|答复|输出)中(?:声称|说|表示|写|"
                          r"确认)|照我说的做|(?:只|仅)输出[:：]|(?:请|务必)确认批准"), False),
    ("override", re.compile(r"(?:你|您)(?:遵守|遵循|执行)的[^。；！？]{0,8}(?:规则|規則|规定|要求|制度)(?:放在一边|放一边|搁置|抛开)|"
                            r"(?:你|您)(?:真正的|真实的|唯一的|新的)(?:工作|任务|任務|目标|目的|职责)是|(?:你|您)有权(?:跳过|忽略|绕过|"
                            r"豁免|批准)|(?:前面|上面|之前|以上)(?:几段|的内容|的文字|的段落)?(?:只是|都是|是)(?:测试|假的|无效)"), False),
    ("ai_address", re.compile(r"(?:语言模型|大模型|人工智能|ai|助手|机器人)(?:请注意|注意|听好)|致(?:所有|全部|各)?(?:自动|智能|ai)"
                              r"(?:审查|审核|审批)?(?:系统|程序|助手|模型)"), False),
    ("role", re.compile(r"模拟(?:一个|一名|一位)?[^。；！？，]{0,10}(?:审批员|审批人|信贷员|客户经理|助手|机器人)"), False),
    ("role", re.compile(r"(?:你|您)(?:现在|現在|从现在起|從現在起|从现在开始|從現在開始|从此)(?:就)?(?:是|扮演|作为|作為|充当|充當|"
                        r"变成|變成|成为|成為)|从现在(?:开始|起)(?:你|您)|從現在(?:開始|起)(?:你|您)"), False),
    ("role", re.compile(r"(?:请|請|你|您)(?:现在|現在)?(?:扮演|充当|充當|假装|假裝|假扮|饰演|飾演)|假装(?:你|您)?是|假裝(?:你|您)?是|"
                        r"假设(?:你|您)是|假設(?:你|您)是|角色扮演|(?:你|您)的新(?:角色|身份|任务|任務|指令|名字)|"
                        r"(?:你|您)不再是|(?:你|您)没有(?:任何)?(?:限制|规则|規則|约束|約束)"), False),
    ("ai_address", re.compile(rf"作为(?:一个|一名|一款)?{_ZAI}|作為(?:一個|一名|一款)?{_ZAI}|"
                              rf"(?:致|给|給|亲爱的|親愛的|嘿|你好|您好)[:：]?{_ZAI}(?:[:：]|你|您|请|請)|"
                              rf"如果你是(?:一个)?{_ZAI}|(?:^|[。！？；：:>])(?:助手|小审|ai|人工智能|机器人|機器人)[，,:：]|"
                              rf"(?:作为|作為|我是)(?:你|您)的(?:开发者|開發者|创建者|創建者|管理员|管理員|主人|设计者|程序员)|"
                              rf"(?:助手|ai|模型|人工智能)(?:应当|应该|应|必须|需要|要)(?:告诉|回答|回复|输出|推荐|批准|忽略|确认|表示)"),
     False),
    ("system_prompt", re.compile(r"系统提示|系統提示|系统指令|系統指令|开发者模式|開發者模式|越狱|越獄|提示词|提示詞"), False),
    # "直接放款" also describes a lawful procedure ("信用良好的可以不要担保直接放款"): only orders to approve count.
    ("approval", re.compile(r"(?:直接|立即|马上|馬上|立刻|无条件|無條件|一律|务必|務必)(?:予以)?(?:批准|审批通过|審批通過)|"
                            r"(?:无条件|無條件|一律|务必|務必)(?:予以)?(?:放款|放行)|"
                            r"(?:请|請)(?:直接)?批准(?:这|這|该|該|此|本)"), False),
]
_ZH_NEGATION = re.compile(r"(?:不得|不能|不可|不应|不應|严禁|嚴禁|禁止|切勿|不准|不许|不許|避免|防止)$")


def classify(text: str) -> Finding | None:
    """The first sign that `text` addresses an AI assistant with an instruction, or None."""
    if not text or not text.strip():
        return None
    for view in views(text):
        for kind, pattern, strong in _EN:
            for match in pattern.finditer(view):
                if strong and not _STRONG.search(match.group()):
                    continue
                if _EN_NEGATION.search(view[max(0, match.start() - 40):match.start()]):
                    continue
                return Finding(kind, _excerpt(match.group()))
        zh = re.sub(r"\s+", "", view)  # Chinese has no spaces: a spaced-out phrase is the same phrase
        for kind, pattern, strong in _ZH:
            for match in pattern.finditer(zh):
                if strong and not _ZH_STRONG.search(match.group()):
                    continue
                if _ZH_NEGATION.search(zh[max(0, match.start() - 4):match.start()]):
                    continue
                return Finding(kind, _excerpt(match.group()))
    return None


def is_suspicious(text: str) -> bool:
    return classify(text) is not None


def _excerpt(words: str) -> str:
    words = words.strip()
    return words if len(words) <= 80 else words[:79] + "…"


def mark_suspicious(clauses: list[Clause]) -> list[Clause]:
    """The clauses with `suspicious` and its reason set by `classify` (at ingest, before they are stored)."""
    marked = []
    for clause in clauses:
        finding = classify(clause.text)
        marked.append(clause.model_copy(update={"suspicious": finding is not None,
                                                "suspicious_reason": finding.stored() if finding else ""}))
    return marked


def finding_of(clause: Clause) -> Finding | None:
    """Why a clause reads like an instruction: from its ingest mark, else classified now (an index built
    before the mark existed)."""
    if clause.suspicious and ": " in clause.suspicious_reason:
        kind, words = clause.suspicious_reason.split(": ", 1)
        if kind in REASONS:
            return Finding(kind, words)  # type: ignore[arg-type]
    return classify(clause.text)


_ASKS = re.compile(r"instruction|injection|suspicious|prompt|planted|指令|注入|可疑|提示词|植入", re.I)


def asks_about_instructions(question: str) -> bool:
    """Whether a question is after the instruction-like text itself (it quotes one, or asks about
    instructions, injections or suspicious clauses), so an answer may quote it."""
    return bool(_ASKS.search(question)) or classify(question) is not None
