"""A harder retrieval set, written for Parley's evaluation (the companies and numbers are fictional): 14 documents,
8 in English and 6 in Korean, many near-duplicates of each other (the same policy for two years or two regions, the
same runbook for two systems), and 61 questions of three kinds, 31 of them across languages:
- "distractor": the answer's words appear in a sibling document too; only the year, region or system tells which;
- "paraphrase": the question shares no content word with the passage that answers it;
- "cross-language": an English question about a Korean document, or a Korean question about an English one.
Each question names the document and section that answers it (bench/attachment_eval.py, bench/rag_eval.py).
"""

from __future__ import annotations

DOCUMENTS: dict[str, str] = {
    "travel-2025-eu.md": """# Scope
This policy applies to employees based in the European Union for trips taken in 2025.
# Lodging
Hotels are reimbursed up to 160 euros per night in capital cities and 110 euros elsewhere.
# Meals
A daily allowance of 40 euros covers meals while travelling.
# Rail
Train journeys under four hours must be booked in second class.
""",
    "travel-2026-eu.md": """# Scope
This policy applies to employees based in the European Union for trips taken in 2026.
# Lodging
Hotels are reimbursed up to 190 euros per night in capital cities and 130 euros elsewhere.
# Meals
A daily allowance of 48 euros covers meals while travelling.
# Rail
Train journeys under five hours must be booked in second class; first class is allowed above that.
""",
    "travel-2026-us.md": """# Scope
This policy applies to employees based in the United States for trips taken in 2026.
# Lodging
Hotels are reimbursed up to 275 dollars per night in New York and San Francisco and 180 dollars elsewhere.
# Meals
A daily allowance of 70 dollars covers meals while travelling.
# Mileage
Driving a personal car is reimbursed at 67 cents per mile.
""",
    "runbook-billing-db.md": """# Failover
If the billing database primary stops answering, the standby is promoted after 90 seconds without heartbeats.
# Backups
The billing database is backed up every 15 minutes and each backup is kept for 35 days.
# Maintenance window
Schema changes to the billing database run on Sundays between 02:00 and 04:00 UTC.
""",
    "runbook-search-db.md": """# Failover
If the search cluster loses its leader, a new leader is elected after 10 seconds without heartbeats.
# Backups
Search indexes are snapshotted every 6 hours and snapshots are kept for 7 days.
# Maintenance window
Index rebuilds for the search cluster run on Wednesdays between 22:00 and 23:00 UTC.
""",
    "laptop-policy.md": """# Refresh
Engineers receive a new laptop every three years; everyone else every four years.
# Theft
A stolen laptop must be reported to the police and to the service desk the same day.
# Personal use
Occasional personal use is fine, but company laptops may not be lent to family members.
""",
    "parking.md": """# Spaces
The garage under the Amsterdam office has 40 spaces, 8 of them with chargers for electric cars.
# Allocation
Spaces are given out daily on a first-come basis; nobody has a reserved space, directors included.
# Bicycles
Bicycles go in the racks by the side entrance; bicycles left overnight for a week are removed.
""",
    "sabbatical.md": """# Eligibility
After seven years of service an employee may take a sabbatical of up to three months.
# Pay
The first month of a sabbatical is paid in full; the rest is unpaid.
# Return
The employee returns to the same role or one at the same level.
""",
    "재택근무-2025.md": """# 신청
2025년에는 재택근무를 일주일에 두 번까지 신청할 수 있다.
# 장비
재택근무용 모니터는 한 대까지 회사가 지원한다.
""",
    "재택근무-2026.md": """# 신청
2026년부터는 재택근무를 일주일에 세 번까지 신청할 수 있다. 팀장 승인이 필요하다.
# 장비
재택근무용 모니터는 두 대까지, 의자는 한 번 30만 원까지 회사가 지원한다.
# 통신비
재택근무 일수에 따라 인터넷 요금을 한 달에 2만 원까지 지원한다.
""",
    "경조사-규정.md": """# 결혼
본인 결혼 시 유급 휴가 5일과 축하금 50만 원을 지급한다.
# 조사
부모상에는 유급 휴가 5일과 조의금 100만 원을 지급한다.
# 출산
배우자 출산 시 유급 휴가 10일을 준다.
""",
    "온보딩.md": """# 입사 첫날
입사 첫날에는 오전 9시 30분까지 본사 1층 안내 데스크로 와서 출입증을 받는다. 인사팀 담당자가 자리와 사물함을
안내하고, 점심은 팀원들과 함께 한다.
# 장비 지급
노트북과 모니터는 입사 첫날 오후에 지급된다. 추가 장비가 필요하면 팀장 승인을 받아 서비스 데스크에 요청한다.
# 교육
입사 후 첫 2주 동안 회사 소개, 보안, 개발 환경 교육을 차례로 받는다. 교육 일정은 첫날 메일로 안내된다.
# 수습 기간
수습 기간은 3개월이며, 이 기간에도 급여는 전액 지급된다. 수습이 끝나기 2주 전에 팀장과 면담한다.
""",
    "연차-규정.md": """# 연차 일수
입사 첫해에는 한 달 개근할 때마다 하루씩, 최대 11일의 연차가 생긴다. 2년 차부터는 매년 15일이 주어지고,
3년마다 하루씩 늘어난다.
# 이월
쓰지 못한 연차는 다음 해 3월 말까지 최대 5일 이월할 수 있고, 나머지는 소멸한다.
# 반차
연차는 반나절 단위로도 쓸 수 있다. 오전 반차는 13시에 출근하고, 오후 반차는 14시에 퇴근한다.
# 신청
연차는 사용일 3일 전까지 인사 시스템에서 신청하고 팀장 승인을 받는다.
""",
    "security-training.md": """# Schedule
Every employee completes the security awareness course within 30 days of joining and then once a year.
# Phishing drills
Simulated phishing emails are sent four times a year; clicking one means taking a short refresher.
# Exceptions
Contractors on assignments shorter than two months are exempt from the yearly course.
""",
}

# (question, expected document, expected section, kind)
QUESTIONS: list[tuple[str, str, str, str]] = [
    ("What was the hotel limit per night in EU capital cities in 2025?", "travel-2025-eu.md", "Lodging", "distractor"),
    ("What is the hotel limit per night in EU capital cities in 2026?", "travel-2026-eu.md", "Lodging", "distractor"),
    ("How much can US staff spend on a hotel in New York?", "travel-2026-us.md", "Lodging", "distractor"),
    ("What is the 2025 daily meal allowance in the EU?", "travel-2025-eu.md", "Meals", "distractor"),
    ("What is the daily meal allowance for US employees?", "travel-2026-us.md", "Meals", "distractor"),
    ("From how many hours of train travel is first class allowed in 2026?", "travel-2026-eu.md", "Rail",
     "distractor"),
    ("After how many seconds is the billing database standby promoted?", "runbook-billing-db.md", "Failover",
     "distractor"),
    ("How long until the search cluster elects a new leader?", "runbook-search-db.md", "Failover", "distractor"),
    ("How long are billing database backups kept?", "runbook-billing-db.md", "Backups", "distractor"),
    ("How often is the search index snapshotted?", "runbook-search-db.md", "Backups", "distractor"),
    ("When can schema changes run on the billing database?", "runbook-billing-db.md", "Maintenance window",
     "distractor"),
    ("2026년에는 재택근무를 일주일에 몇 번 할 수 있나요?", "재택근무-2026.md", "신청", "distractor"),
    ("2025년 재택근무 신청은 주 몇 회였나요?", "재택근무-2025.md", "신청", "distractor"),
    ("2026년 재택근무 모니터 지원은 몇 대인가요?", "재택근무-2026.md", "장비", "distractor"),
    ("Someone broke into my car and took my work computer. Who do I tell?", "laptop-policy.md", "Theft",
     "paraphrase"),
    ("Can my kids borrow my work machine for their homework?", "laptop-policy.md", "Personal use", "paraphrase"),
    ("How frequently do developers get fresh hardware?", "laptop-policy.md", "Refresh", "paraphrase"),
    ("Where can I plug in my EV at work?", "parking.md", "Spaces", "paraphrase"),
    ("Does the CEO get a guaranteed spot to leave her car?", "parking.md", "Allocation", "paraphrase"),
    ("I left my bike at the office over the holidays. Will it still be there?", "parking.md", "Bicycles",
     "paraphrase"),
    ("Can I take a long unpaid break after many years here?", "sabbatical.md", "Eligibility", "paraphrase"),
    ("Will I still get a salary during extended time off?", "sabbatical.md", "Pay", "paraphrase"),
    ("Do I get my old job back after a long break?", "sabbatical.md", "Return", "paraphrase"),
    ("How often do fake scam emails get sent to test us?", "security-training.md", "Phishing drills", "paraphrase"),
    ("Do temporary freelancers have to do the yearly course?", "security-training.md", "Exceptions", "paraphrase"),
    ("How much does the company pay toward a home office chair?", "재택근무-2026.md", "장비", "cross-language"),
    ("Is my home internet bill covered when I work remotely?", "재택근무-2026.md", "통신비", "cross-language"),
    ("How many days off do I get when I get married?", "경조사-규정.md", "결혼", "cross-language"),
    ("What do I get when my partner has a baby?", "경조사-규정.md", "출산", "cross-language"),
    ("How much condolence money is paid when a parent dies?", "경조사-규정.md", "조사", "cross-language"),
    ("노트북을 도난당하면 언제까지 신고해야 하나요?", "laptop-policy.md", "Theft", "cross-language"),
    ("전기차 충전기가 있는 주차 공간은 몇 개인가요?", "parking.md", "Spaces", "cross-language"),
    ("안식 휴가는 몇 년 근무하면 쓸 수 있나요?", "sabbatical.md", "Eligibility", "cross-language"),
    ("보안 교육은 입사 후 며칠 안에 받아야 하나요?", "security-training.md", "Schedule", "cross-language"),
    ("미국 직원이 개인 차를 운전하면 마일당 얼마를 받나요?", "travel-2026-us.md", "Mileage", "cross-language"),
    ("결제 데이터베이스 스키마 변경은 무슨 요일에 하나요?", "runbook-billing-db.md", "Maintenance window",
     "cross-language"),
    # English questions about Korean documents
    ("How many times a week could I work from home in 2025?", "재택근무-2025.md", "신청", "cross-language"),
    ("Did the company pay for a monitor for remote work in 2025?", "재택근무-2025.md", "장비", "cross-language"),
    ("Who has to approve my remote work days in 2026?", "재택근무-2026.md", "신청", "cross-language"),
    ("How much leave do I get when my father or mother passes away?", "경조사-규정.md", "조사", "cross-language"),
    ("What time should I arrive on my first day?", "온보딩.md", "입사 첫날", "cross-language"),
    ("When do new hires receive their laptop?", "온보딩.md", "장비 지급", "cross-language"),
    ("How long is the probation period, and am I paid in full?", "온보딩.md", "수습 기간", "cross-language"),
    ("How many vacation days does someone in their first year get?", "연차-규정.md", "연차 일수", "cross-language"),
    ("Can unused vacation days be carried over to next year?", "연차-규정.md", "이월", "cross-language"),
    ("Can I take only half a day off?", "연차-규정.md", "반차", "cross-language"),
    # Korean questions about English documents
    ("2025년 EU 수도의 호텔 숙박비 한도는 얼마였나요?", "travel-2025-eu.md", "Lodging", "cross-language"),
    ("미국 직원의 하루 식비 한도는 얼마인가요?", "travel-2026-us.md", "Meals", "cross-language"),
    ("검색 클러스터 스냅샷은 며칠 동안 보관하나요?", "runbook-search-db.md", "Backups", "cross-language"),
    ("결제 데이터베이스는 몇 분마다 백업하나요?", "runbook-billing-db.md", "Backups", "cross-language"),
    ("개발자는 노트북을 몇 년마다 새로 받나요?", "laptop-policy.md", "Refresh", "cross-language"),
    ("가족에게 회사 노트북을 빌려줘도 되나요?", "laptop-policy.md", "Personal use", "cross-language"),
    ("자전거는 어디에 세워야 하나요?", "parking.md", "Bicycles", "cross-language"),
    ("안식 휴가 중에도 월급이 나오나요?", "sabbatical.md", "Pay", "cross-language"),
    ("피싱 모의 훈련 메일은 일 년에 몇 번 오나요?", "security-training.md", "Phishing drills", "cross-language"),
    ("2026년 유럽 출장에서 기차 일등석은 언제 탈 수 있나요?", "travel-2026-eu.md", "Rail", "cross-language"),
    # more questions in the documents' own language
    ("입사 첫날에는 무엇을 하나요?", "온보딩.md", "입사 첫날", "distractor"),
    ("회사에 처음 오는 날 어디로 가면 되나요?", "온보딩.md", "입사 첫날", "paraphrase"),
    ("못 쓴 휴가를 내년으로 넘길 수 있나요?", "연차-규정.md", "이월", "paraphrase"),
    ("아내가 아이를 낳으면 남편은 며칠 쉴 수 있나요?", "경조사-규정.md", "출산", "paraphrase"),
    ("What is the most a room in an EU capital may cost per night in 2026?", "travel-2026-eu.md", "Lodging",
     "distractor"),
]

# What a capable model answers when asked for a question in the other language of this mixed set (core.chat.translate
# asks for every question here: the documents are in both languages). rag_eval.py scripts the tests' wire-protocol
# server to reply with these, so the real translation path runs offline. Written as a translator would, not from the
# answers' wording.
TRANSLATIONS: dict[str, str] = {
    "What was the hotel limit per night in EU capital cities in 2025?": "2025년 EU 수도의 1박 호텔 한도는 얼마였나요?",
    "What is the hotel limit per night in EU capital cities in 2026?": "2026년 EU 수도의 1박 호텔 한도는 얼마인가요?",
    "How much can US staff spend on a hotel in New York?": "미국 직원은 뉴욕에서 호텔에 얼마까지 쓸 수 있나요?",
    "What is the 2025 daily meal allowance in the EU?": "2025년 EU의 하루 식비 수당은 얼마인가요?",
    "What is the daily meal allowance for US employees?": "미국 직원의 하루 식비 수당은 얼마인가요?",
    "From how many hours of train travel is first class allowed in 2026?":
        "2026년에는 기차로 몇 시간 이상 이동하면 일등석이 허용되나요?",
    "After how many seconds is the billing database standby promoted?":
        "결제 데이터베이스 대기 서버는 몇 초 후에 승격되나요?",
    "How long until the search cluster elects a new leader?": "검색 클러스터가 새 리더를 선출하기까지 얼마나 걸리나요?",
    "How long are billing database backups kept?": "결제 데이터베이스 백업은 얼마 동안 보관되나요?",
    "How often is the search index snapshotted?": "검색 인덱스 스냅샷은 얼마나 자주 찍나요?",
    "When can schema changes run on the billing database?": "결제 데이터베이스의 스키마 변경은 언제 할 수 있나요?",
    "2026년에는 재택근무를 일주일에 몇 번 할 수 있나요?": "How many times a week can I work from home in 2026?",
    "2025년 재택근무 신청은 주 몇 회였나요?": "How many remote work days per week could be requested in 2025?",
    "2026년 재택근무 모니터 지원은 몇 대인가요?": "How many monitors are provided for remote work in 2026?",
    "Someone broke into my car and took my work computer. Who do I tell?":
        "누가 내 차에 침입해서 업무용 컴퓨터를 가져갔어요. 누구에게 알려야 하나요?",
    "Can my kids borrow my work machine for their homework?": "아이들이 숙제할 때 제 업무용 컴퓨터를 빌려 써도 되나요?",
    "How frequently do developers get fresh hardware?": "개발자는 얼마나 자주 새 장비를 받나요?",
    "Where can I plug in my EV at work?": "회사에서 전기차는 어디에서 충전할 수 있나요?",
    "Does the CEO get a guaranteed spot to leave her car?": "CEO는 차를 세울 자리가 보장되나요?",
    "I left my bike at the office over the holidays. Will it still be there?":
        "연휴 동안 회사에 자전거를 두고 왔어요. 그대로 있을까요?",
    "Can I take a long unpaid break after many years here?": "여기서 오래 일하면 긴 무급 휴식을 가질 수 있나요?",
    "Will I still get a salary during extended time off?": "장기간 쉬는 동안에도 급여를 받나요?",
    "Do I get my old job back after a long break?": "오래 쉬고 돌아오면 예전 자리로 복귀할 수 있나요?",
    "How often do fake scam emails get sent to test us?": "우리를 시험하려고 가짜 사기 메일을 얼마나 자주 보내나요?",
    "Do temporary freelancers have to do the yearly course?": "임시 프리랜서도 연례 교육을 받아야 하나요?",
    "입사 첫날에는 무엇을 하나요?": "What do I do on my first day at the company?",
    "회사에 처음 오는 날 어디로 가면 되나요?": "Where should I go on my first day at the office?",
    "못 쓴 휴가를 내년으로 넘길 수 있나요?": "Can I move the leave I did not use to next year?",
    "아내가 아이를 낳으면 남편은 며칠 쉴 수 있나요?": "How many days off does a husband get when his wife gives birth?",
    "What is the most a room in an EU capital may cost per night in 2026?":
        "2026년 EU 수도에서 1박 객실 요금은 최대 얼마까지 되나요?",
    "How much does the company pay toward a home office chair?": "회사는 재택근무용 의자 구입비를 얼마까지 지원하나요?",
    "Is my home internet bill covered when I work remotely?": "재택근무를 하면 집 인터넷 요금을 지원받을 수 있나요?",
    "How many days off do I get when I get married?": "결혼하면 휴가를 며칠 받나요?",
    "What do I get when my partner has a baby?": "배우자가 출산하면 무엇을 받나요?",
    "How much condolence money is paid when a parent dies?": "부모님이 돌아가시면 조의금은 얼마를 받나요?",
    "노트북을 도난당하면 언제까지 신고해야 하나요?": "If my laptop is stolen, how soon must I report it?",
    "전기차 충전기가 있는 주차 공간은 몇 개인가요?": "How many parking spaces have electric vehicle chargers?",
    "안식 휴가는 몇 년 근무하면 쓸 수 있나요?": "After how many years of service can I take a sabbatical?",
    "보안 교육은 입사 후 며칠 안에 받아야 하나요?":
        "Within how many days of joining must I complete security training?",
    "미국 직원이 개인 차를 운전하면 마일당 얼마를 받나요?":
        "How much per mile do US employees get for driving their personal car?",
    "결제 데이터베이스 스키마 변경은 무슨 요일에 하나요?":
        "On which day of the week are billing database schema changes made?",
    "How many times a week could I work from home in 2025?": "2025년에는 일주일에 몇 번 재택근무를 할 수 있었나요?",
    "Did the company pay for a monitor for remote work in 2025?": "2025년에 회사가 재택근무용 모니터를 지원했나요?",
    "Who has to approve my remote work days in 2026?": "2026년에 재택근무일은 누가 승인해야 하나요?",
    "How much leave do I get when my father or mother passes away?": "부모님이 돌아가시면 휴가를 며칠 받나요?",
    "What time should I arrive on my first day?": "입사 첫날에는 몇 시까지 도착해야 하나요?",
    "When do new hires receive their laptop?": "신입 사원은 노트북을 언제 받나요?",
    "How long is the probation period, and am I paid in full?": "수습 기간은 얼마나 되며 급여는 전액 받나요?",
    "How many vacation days does someone in their first year get?": "입사 첫해에는 연차가 며칠인가요?",
    "Can unused vacation days be carried over to next year?": "사용하지 않은 연차를 다음 해로 이월할 수 있나요?",
    "Can I take only half a day off?": "반나절만 휴가를 쓸 수 있나요?",
    "2025년 EU 수도의 호텔 숙박비 한도는 얼마였나요?":
        "What was the hotel limit per night in EU capital cities in 2025?",
    "미국 직원의 하루 식비 한도는 얼마인가요?": "What is the daily meal allowance for US employees?",
    "검색 클러스터 스냅샷은 며칠 동안 보관하나요?": "For how many days are search cluster snapshots kept?",
    "결제 데이터베이스는 몇 분마다 백업하나요?": "How many minutes apart is the billing database backed up?",
    "개발자는 노트북을 몇 년마다 새로 받나요?": "Every how many years do developers get a new laptop?",
    "가족에게 회사 노트북을 빌려줘도 되나요?": "May I lend my company laptop to my family?",
    "자전거는 어디에 세워야 하나요?": "Where should I park my bicycle?",
    "안식 휴가 중에도 월급이 나오나요?": "Am I paid my salary during a sabbatical?",
    "피싱 모의 훈련 메일은 일 년에 몇 번 오나요?": "How many phishing drill emails are sent per year?",
    "2026년 유럽 출장에서 기차 일등석은 언제 탈 수 있나요?":
        "When may I travel first class by train on a 2026 trip in Europe?",
}
