"""The Chinese catalog of the review note: English msgid -> Chinese, as gettext keys a catalog.

Wording follows 授信审查报告编写规范 (NCB-RNS-ZH-010) and the Chinese procedures (NCB-SME-ZH-007, NCB-MTG-ZH-008).
Placeholders ({name}) must match the msgid's; tests/test_note_languages.py checks that they do.
"""

from __future__ import annotations

_NOTE = {
    "# Credit review note — {id} (DRAFT)": "# 授信审查报告 — {id}（初稿）",
    "Draft prepared by Xiaoshen for the credit officer. It is not a credit decision: the approval authority named "
    "below decides, after review by Credit Risk.":
        "本报告为小审（Xiaoshen）为客户经理起草的审查建议初稿，不构成授信决策：经信用风险部门复核后，由下列有权审批人作出决定。",
    "1 Summary and recommendation": "一、审查结论与建议",
    "2 Borrower and request": "二、借款人及申请概况",
    "3 Financial analysis": "三、财务分析",
    "4 Policy compliance": "四、政策符合性审查",
    "5 Exceptions and mitigants": "五、例外事项及缓释措施",
    "6 Key risks": "六、主要风险",
    "7 Conditions and covenants": "七、授信条件",
    "8 Sources and approvals": "八、依据条款与审批",
    "Appendix — citations": "附录：引用条款",
    "borrower": "借款人", "id": "证件号码（脱敏）", "product": "授信品种", "request": "申请", "date": "审查日期",
    "figure": "指标", "value": "数值", "formula": "计算公式", "inputs": "输入数据",
    "check": "检查项目", "limit": "政策限额", "result": "结论", "clause": "依据条款",
    "#": "序号", "document": "文件", "quoted text": "条款原文",
    "pass": "符合", "FAIL": "不符合", "exception needed": "需例外审批", "not assessable": "无法评估",
    "(rule drifted)": "（规则与条款不一致）",
    "Approve": "同意", "Approve with conditions": "附条件同意", "Decline": "否决", "Refer": "退回补充",
    "Draft recommendation: {recommendation}. Approval authority: {authority} ({reason}).":
        "审查建议：{recommendation}。有权审批人：{authority}（{reason}）。",
    "Every policy check passed.": "各项政策检查均符合。",
    "None.": "无。",
    "No limit is breached or near.": "未发现超出或接近限额的指标。",
    "The policies retrieved state no specific conditions.": "所检索的政策未规定具体条件。",
    "Mitigant:": "缓释措施：", "Mitigants:": "缓释措施：",
    "none found in the application; the credit officer must document one or decline.":
        "申请资料中未发现缓释措施；客户经理须补充有据可查的缓释措施，否则否决。",
    "(assistant reasoning)": "（助手分析）",
    "not supported by the cited clause": "所引条款不支持该陈述",
    "Rules drifted from their clauses (policy changed, rule not updated):": "与条款不一致的规则（政策已修订、规则未更新）：",
    "Prepared by: {name} (draft by Xiaoshen, backend {backend}, settings {settings}, index {index}, {drafted}). "
    "Reviewed by: Credit Risk. Decision: {authority}.":
        "编写人：{name}（小审起草，后端 {backend}，配置 {settings}，索引 {index}，{drafted}）。复核：信用风险部门。"
        "审批决定：{authority}。",
    "(credit officer not named)": "（未署名的客户经理）",
    "n/a": "不适用",
    # the portfolio summary of a batch
    "Portfolio summary of draft review notes": "授信审查报告初稿汇总", "application": "申请编号",
    "draft recommendation": "审查建议", "approval authority": "有权审批人", "failed checks": "不符合项",
    "exceptions": "例外事项", "note": "报告",
    # the Review page (app/views/review.py): a figure's remarks column
    "remarks": "备注",
    "Drafts for the credit officer, not credit decisions: the approval authority named in each note decides.":
        "以下均为供客户经理使用的初稿，不构成授信决策：由各报告所列有权审批人作出决定。",
    "{n} applications: {tally}.": "共{n}笔申请：{tally}。", "Key ratios against policy limits": "主要比率与政策限额对比",
    # a ratio chart's title, and its caption: what the title does not say
    "{metric} against policy limits (bar: value; black tick: limit; red: outside the limit)":
        "{metric}与政策限额对比（条形：数值；黑色刻度：限额；红色：超出限额）",
    "{n} application": "{n}笔申请", "{n} applications": "{n}笔申请",
    "{plotted} plotted, {outside} outside their limit. Limits: {limits}.":
        "图中{plotted}，其中{outside}笔超出限额。限额：{limits}。",
    "{limit} under {clause} ({applications})": "{limit}，依据{clause}（{applications}）",
    "{limit} ({applications})": "{limit}（{applications}）",
}

_SENTENCES = {
    "{label} {value} {verdict}: limit {limit}{reason}.": "{label}为{value}，{verdict}：限额{limit}{reason}。",
    "breaches the limit": "超出限额",
    "is outside the limit and needs an exception approved by the {approver}": "超出限额，须由{approver}审批例外",
    "cannot be assessed": "无法评估",
    " ({reason})": "（{reason}）",
    "No authority may approve new money: {reason}.": "任何审批人均不得批准新增授信：{reason}。",
    "No mitigant for the {label} exception is found in the application: an exception without a documented mitigant "
    "may not be approved.": "申请资料中未发现{label}例外事项的缓释措施：没有有据可查的缓释措施的例外不得批准。",
    "{label} {value} exceeds {threshold}: {condition}.": "{label}为{value}，超过{threshold}：{condition}。",
    "{kind}: {item}.": "{kind}：{item}。",
    "Condition precedent to first drawdown": "首次提款前提条件",
    "Financial covenant": "财务约束条款",
    "{label} is {value} against {limit}; headroom is thin or negative.": "{label}为{value}，限额{limit}；余量不足或为负。",
    "{label} {value} departs from the limit {limit} ({clause}); {reason}. It may be approved only by the "
    "{approver}{level}, and only with at least one documented mitigant.":
        "{label}为{value}，偏离限额{limit}（{clause}）；{reason}。仅可由{approver}{level}审批，且须至少有一项有据可查的缓释措施。",
    " (for this request: {approver})": "（本笔申请为：{approver}）",
    "{amount} over {tenor} months at {rate}% ({repayment}) for {purpose}":
        "{amount}，期限{tenor}个月，年利率{rate}%（{repayment}），用途：{purpose}",
    "group exposure {exposure} at grade {grade}": "集团授信敞口{exposure}，内部风险评级{grade}级",
    "{before}; one level up for the policy exception(s): {checks}": "{before}；因政策例外（{checks}）上提一级审批",
    "risk grade {grade} has no approval authority for new lending": "内部风险评级{grade}级无新增授信审批权限",
    "group exposure in USD not computable": "无法计算折合美元的集团授信敞口",
    "outside the limit; approvable only as a policy exception": "超出限额，只能作为政策例外审批",
    "outside the limit, within the exception ceiling of {bound}": "超出限额，但在例外上限{bound}以内",
    "outside the limit, within the exception floor of {bound}": "超出限额，但在例外下限{bound}以内",
    "{before}rule drifted: {why}": "{before}规则与条款不一致：{why}",
    "{reason}; ": "{reason}；",
    "{note}": "{note}",
    "{sign} {value}": "{sign} {value}",
    "{documents}": "{documents}",
    "none named": "未涉及", "'{term}' named": "涉及“{term}”", "none of {clause}": "不属于{clause}所列情形",
    "all of {documents}": "须全部提供：{documents}",
    "income not verified: {documents} missing": "收入未经核实：缺少{documents}",
    "{activity} is prohibited lending, not open to exception": "{activity}属于禁止性贷款，不得作为例外审批",
    "no prohibited activity named; the credit officer verifies the purpose": "未涉及禁止性业务；借款用途由客户经理核实",
    "{kind} guarantee from {guarantor} for {amount}: tangible net worth {worth} is {multiple}× the guaranteed amount "
    "(at least {required}× required).":
        "{guarantor}提供{kind}保证{amount}：有形净资产{worth}，为担保金额的{multiple}倍（要求不低于{required}倍）。",
    "Personal": "个人", "Corporate": "企业",
    "Additional collateral, {description} ({type}): market value {value} × (1 − {pct}%) = eligible value {eligible}.":
        "追加抵质押物：{description}（{type}）：市场价值{value} ×（1 − {pct}%）= 合格价值{eligible}。",
    "Additional collateral, {description} ({type}): market value {value} × (1 − {pct}%) = eligible value {eligible}, "
    "{cover}% of the loan amount {amount}.":
        "追加抵质押物：{description}（{type}）：市场价值{value} ×（1 − {pct}%）= 合格价值{eligible}，为贷款金额{amount}的{cover}%。",
    "{label} {value} is well within the limit {limit} (computed in section 3).":
        "{label}为{value}，远在限额{limit}以内（见第三部分测算）。",
    "Contracted amortisation brings LTV to {ltv}% (within {limit}) after {month} months: balance {balance} on property "
    "value {value}, at {rate}% over {months} months.":
        "按合同分期还款，{month}个月后贷款价值比降至{ltv}%（在{limit}以内）：贷款余额{balance}，房产价值{value}，"
        "年利率{rate}%，摊还期{months}个月。",
    # the working-capital loan limit (NCB-SME-ZH-007 第二十二条、第二十三条(八))
    "{limit} is zero or negative: no loan may be granted": "{limit}为零或负数：不得发放流动资金贷款",
    "{excess} above the computed limit: reduced to the limit unless the excess is approved as a policy exception":
        "超过测算额度{excess}，应核减至测算额度；超出部分确需发放的，须作为政策例外审批",
    "{value} × (1 − {pct}%) = {eligible}": "{value} ×（1 − {pct}%）= {eligible}",
}

_TERMS = {
    # products and repayment
    "owner-occupied commercial real estate": "自用型商业房地产", "income-producing commercial real estate": "收益型商业房地产",
    "construction": "建设开发", "land": "土地", "SME working-capital": "小微企业流动资金",
    "residential mortgage": "个人住房", "unsecured consumer": "个人无担保消费",
    "amortising": "分期还本", "interest_only": "按期付息、到期还本", "bullet": "到期一次还本付息", "revolving": "循环使用",
    # approvers
    "Branch Credit Officer": "分行信贷官", "Regional Credit Manager": "区域信贷经理", "Chief Credit Officer": "首席信贷官",
    "Credit Committee": "信贷委员会", "Board Credit Committee": "董事会信贷委员会",
    "Retail Credit Manager": "零售信贷经理", "approval authority one level up": "上一级有权审批人",
    "none: no new money at this grade": "无：该评级不得新增授信", "not determinable": "无法确定",
    # figures: labels
    "Annual debt service on the new loan": "新增贷款年偿债额", "Loan-to-value (LTV)": "贷款价值比（抵押率）",
    "Combined LTV (all liens)": "综合抵押率（各顺位合计）", "Loan-to-cost (LTC)": "贷款成本比",
    "Debt-to-income (DTI)": "债务收入比", "Credit score": "信用评分",
    "Debt service coverage (DSCR)": "偿债覆盖率", "Stressed DSCR (rate + 2.00 points)": "压力测试偿债覆盖率（利率上浮2个百分点）",
    "Leverage (total debt ÷ EBITDA)": "杠杆倍数（总债务 ÷ EBITDA）",
    "Interest cover (EBITDA ÷ interest)": "利息保障倍数（EBITDA ÷ 利息支出）", "Current ratio": "流动比率",
    "Working-capital need": "营运资金需求量", "Working-capital loan limit": "流动资金贷款额度",
    "Group exposure after the loan (USD)": "新增贷款后集团授信敞口（折合美元）",
    "Age of the oldest collateral valuation": "最早一份抵押物评估的账龄", "Tenor": "贷款期限",
    "Amortisation period": "摊还期限", "Balloon at maturity": "到期尾款比例",
    "Borrower's age at final maturity": "贷款到期时借款人年龄",
    "Unsecured consumer lending after the loan (USD)": "新增贷款后无担保消费贷款（折合美元）",
    "Years trading in the current business": "现有主营业务持续经营年限",
    "Annual sales revenue (CNY)": "年营业收入（人民币）", "Annual sales revenue (USD)": "年营业收入（折合美元）",
    "Largest single payment (CNY)": "最大单笔支付金额（人民币）", "Largest single payment (USD)": "最大单笔支付金额（折合美元）",
    "Eligible collateral value (USD)": "抵质押物合格价值（折合美元）",
    "Unsecured exposure after the loan (USD)": "新增贷款后信用敞口（折合美元）",
    "Prohibited lending (purpose and industry screen)": "禁止性贷款（用途及行业筛查）",
    "Income documents (salaried)": "收入证明材料（工薪）", "Income documents (self-employed)": "收入证明材料（自雇）",
    # figures: formulas
    "12 × amount × r / (1 − (1 + r)^−n), r = rate / 12, n = amortisation months":
        "12 × 贷款金额 × r ÷（1 −（1 + r）^−n），r = 年利率 ÷ 12，n = 摊还月数",
    "amount × rate (interest only)": "贷款金额 × 年利率（只付息）",
    "loan amount ÷ property market value × 100": "贷款金额 ÷ 房产市场价值 × 100",
    "(loan amount + prior and pari-passu liens) ÷ property market value × 100":
        "（贷款金额 + 在先及同顺位担保债权）÷ 房产市场价值 × 100",
    "loan amount ÷ total construction cost × 100": "贷款金额 ÷ 项目总成本 × 100",
    "(existing monthly debt payments + new monthly payment) ÷ gross monthly income × 100":
        "（现有每月债务还款额 + 新增贷款月还款额）÷ 税前月收入 × 100",
    "as reported by the credit bureau": "以征信机构报告为准",
    "EBITDA ÷ (existing annual debt service + debt service on the new loan)": "EBITDA ÷（现有年偿债额 + 新增贷款年偿债额）",
    "(EBITDA − debt service on other borrowings) ÷ annual debt service on the new loan":
        "（EBITDA − 其他借款偿债额）÷ 新增贷款年偿债额",
    "property net operating income ÷ annual debt service on the new loan": "物业净经营收入 ÷ 新增贷款年偿债额",
    "(total debt + new loan) ÷ EBITDA": "（总债务 + 新增贷款）÷ EBITDA",
    "EBITDA ÷ (interest expense + interest on the new loan)": "EBITDA ÷（利息支出 + 新增贷款利息）",
    "current assets ÷ current liabilities": "流动资产 ÷ 流动负债",
    "revenue × (1 − sales margin) × (1 + growth) ÷ turnover; turnover = 360 ÷ (inventory + receivable + prepayment − "
    "payable − advance-receipt days)":
        "上年度销售收入 ×（1 − 销售利润率）×（1 + 预计销售收入年增长率）÷ 营运资金周转次数；周转次数 = 360 ÷"
        "（存货周转天数 + 应收账款周转天数 + 预付账款周转天数 − 应付账款周转天数 − 预收账款周转天数）",
    "need − own working capital (current assets − current liabilities, not below 0) − other working-capital financing":
        "营运资金需求量 − 借款人自有营运资金（流动资产 − 流动负债，不低于0）− 其他渠道提供的营运资金",
    "existing group exposure + new loan × FX rate to USD": "现有集团授信敞口 + 新增贷款 × 美元折算汇率",
    "(as-of date − valuation date) in months (days ÷ 30.44)": "（审查日期 − 评估日期）折算月数（天数 ÷ 30.44）",
    "(EBITDA − debt service on other borrowings) ÷ annual debt service on the new loan, with debt service at the "
    "contract rate + 2.00 points": "（EBITDA − 其他借款偿债额）÷ 新增贷款年偿债额，偿债额按合同利率上浮2.00个百分点计算",
    "property net operating income ÷ annual debt service on the new loan, with debt service at the contract rate + "
    "2.00 points": "物业净经营收入 ÷ 新增贷款年偿债额，偿债额按合同利率上浮2.00个百分点计算",
    "as requested": "按申请", "amortisation months (the tenor when none is given)": "摊还月数（未约定时按贷款期限）",
    "no principal repaid before maturity": "到期前不偿还本金",
    "principal outstanding after the tenor on the amortisation schedule ÷ amount × 100": "按摊还计划到期时的本金余额 ÷ 贷款金额 × 100",
    "age today + tenor months ÷ 12": "当前年龄 + 贷款期限月数 ÷ 12", "as stated by the borrower": "借款人申报",
    "latest financial year": "最近一个完整会计年度", "latest financial year revenue × FX rate to USD": "最近会计年度营业收入 × 美元折算汇率",
    "as stated in the drawdown plan": "按提款计划",
    "largest single payment × FX rate to USD (reference rate, not the payment-date rate)":
        "最大单笔支付金额 × 美元折算汇率（参考汇率，非支付日汇率）",
    "Σ market value × (1 − haircut) × FX rate to USD": "Σ 市场价值 ×（1 − 折扣率）× 美元折算汇率",
    "group exposure after the loan − eligible collateral value (not below 0)": "新增贷款后集团授信敞口 − 抵质押物合格价值（不低于0）",
    # figures: inputs and notes
    "amount": "贷款金额", "rate": "年利率", "repayment": "还款方式", "amortisation months": "摊还月数",
    "loan amount": "贷款金额", "market value": "市场价值", "other liens": "其他担保债权", "construction cost": "项目总成本",
    "existing monthly debts": "现有每月债务还款额", "new monthly payment": "新增贷款月还款额",
    "gross monthly income": "税前月收入", "score": "评分", "NOI": "净经营收入", "debt service": "偿债额",
    "EBITDA": "EBITDA", "other debt service": "其他借款偿债额", "new debt service": "新增贷款偿债额",
    "existing debt service": "现有偿债额", "stressed rate": "压力测试利率", "total debt": "总债务", "new loan": "新增贷款",
    "interest expense": "利息支出", "new loan interest": "新增贷款利息", "current assets": "流动资产",
    "current liabilities": "流动负债", "revenue": "营业收入", "sales margin": "销售利润率", "growth": "预计增长率",
    "turnover": "周转次数", "cycle days": "周转天数合计", "need": "营运资金需求量", "own working capital": "自有营运资金",
    "other financing": "其他渠道营运资金", "existing group exposure": "现有集团授信敞口", "FX to USD": "美元折算汇率",
    "as of": "审查日期", "oldest valuation": "最早评估日期", "tenor months": "贷款期限月数", "age": "年龄",
    "balance at maturity": "到期本金余额", "years in business": "经营年限", "largest single payment": "最大单笔支付金额",
    "exposure after": "新增贷款后敞口", "eligible collateral": "合格抵质押物价值", "existing exposure": "现有敞口",
    "no financial statements": "无财务报表", "no property collateral with a market value": "无具有市场价值的房产抵押物",
    "construction cost not given": "未提供项目总成本", "income not given": "未提供收入", "no score given": "未提供信用评分",
    "NOI not given": "未提供净经营收入", "not meaningful: EBITDA is zero or negative": "无意义：EBITDA为零或负数",
    "no interest expense": "无利息支出", "no current liabilities": "无流动负债",
    "turnover days or sales margin not given": "未提供周转天数或销售利润率",
    "turnover days sum to zero or less: no working-capital need by formula": "周转天数之和为零或负数：按公式无营运资金需求",
    "no collateral": "无抵质押物", "age not given": "未提供年龄", "years in business not given": "未提供经营年限",
    "revolving: no repayment schedule": "循环额度：无还款计划",
    "tax paid and maintenance capex are not in the application and are not deducted": "申请资料未列所得税和维持性资本支出，未予扣除",
    "existing exposure is counted in full: the application does not split it by product": "现有敞口全额计入：申请资料未按产品拆分",
    "no debt service": "无偿债额",
    # documents, collateral types, conditions of requirements, prohibited activities
    "payslips_6m": "最近6个月工资单", "bank_statements_6m": "最近6个月银行流水", "tax_returns_2y": "最近2年纳税记录",
    "bank_statements_12m": "最近12个月银行流水", "none": "无",
    "cash_same_currency": "同币种保证金", "cash_other_currency": "其他币种保证金", "government_bond": "政府债券",
    "listed_equity_main_index": "主要指数成分股", "listed_equity_other": "其他上市股票", "residential_property": "住宅",
    "commercial_property": "商业房地产", "trade_receivables": "应收账款", "inventory": "存货", "machinery": "机器设备",
    "entrusted payment is mandatory: the Bank pays the proceeds directly to the borrower's counterparty":
        "必须采用受托支付：本行将贷款资金直接支付给借款人的交易对象",
    "必须采用受托支付 (entrusted payment is mandatory; no approver may waive it)": "必须采用受托支付，任何审批人均不得豁免",
    "every shareholder owning 20% or more must give a personal guarantee, in place before the first drawdown":
        "持股20%及以上的每一位股东均须提供个人连带责任保证，并在首次提款前签署生效",
    "gambling and casinos": "赌博和赌场", "weapons and munitions": "武器弹药", "mining of crypto-assets": "加密资产挖矿",
    "speculative land banking with no development plan": "无开发计划的投机性土地储备", "payday lending": "发薪日贷款",
    "the purchase of the Bank's own shares": "购买本行股份",
    "Working-capital facility requested": "申请流动资金贷款金额",
}

ZH: dict[str, str] = {**_NOTE, **_SENTENCES, **_TERMS}
