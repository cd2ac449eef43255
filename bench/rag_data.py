"""The retrieval evaluation set: 24 documents (14 English, 10 Korean), each with sections, and 50 questions, each
naming the document and section that answers it. Written for Parley's evaluation; the companies are fictional."""

from __future__ import annotations

DOCUMENTS: dict[str, str] = {
    "travel-policy.md": """# Booking
Employees book flights through the company travel portal at least 14 days before departure. Economy class is the
default for flights under six hours; business class needs a director's approval.
# Expenses
Hotel costs are reimbursed up to 180 euros per night in major cities and 120 euros elsewhere. Receipts must be
uploaded within 30 days of the trip.
# Per diem
A daily allowance of 45 euros covers meals; it is halved on days when breakfast is included in the hotel rate.
""",
    "security-handbook.md": """# Passwords
Passwords must be at least 14 characters long and are checked against a list of breached passwords. A password
manager is provided to every employee.
# Two-factor authentication
Hardware security keys are mandatory for administrators; everyone else may use an authenticator app.
# Lost devices
Report a lost laptop or phone to the service desk within one hour so that it can be wiped remotely.
""",
    "onboarding.md": """# First day
New hires collect their laptop from the IT desk on the second floor at 9:00 and meet their buddy at lunch.
# First week
During the first week every new hire completes the privacy training and sets up their development environment.
# Probation
The probation period lasts three months and ends with a review by the manager.
""",
    "database-operations.md": """# Replication
The primary PostgreSQL server streams its write-ahead log to two replicas in another availability zone.
# Failover
If the primary fails, the replica with the least lag is promoted automatically within 30 seconds.
# Vacuum
Autovacuum runs continuously; a manual VACUUM FULL is only allowed during the Sunday maintenance window.
""",
    "incident-response.md": """# Severity levels
A SEV1 incident is a full outage affecting all customers; a SEV3 is a minor degradation with a workaround.
# Paging
The on-call engineer must acknowledge a page within five minutes; unacknowledged pages escalate to the team lead.
# Postmortems
Every SEV1 and SEV2 incident gets a blameless postmortem published within five working days.
""",
    "coffee-machine.md": """# Cleaning
The espresso machine in the kitchen is descaled every Monday by the facilities team.
# Beans
Beans are delivered on Tuesdays from a local roaster; decaf is on the top shelf.
# Problems
If the machine shows error E12, the water tank is empty; refill it with filtered water.
""",
    "release-process.md": """# Release train
Releases ship every second Wednesday; the release branch is cut on the Monday before.
# Feature flags
Unfinished features are merged behind feature flags that default to off in production.
# Rollback
A release can be rolled back with one click in the deploy dashboard within 24 hours of shipping.
""",
    "parental-leave.md": """# Duration
Birthing parents receive 26 weeks of fully paid leave; other parents receive 16 weeks.
# Return to work
Parents may return part-time at 60 percent for up to three months after their leave ends.
# Adoption
The same leave applies to adoption, starting from the day the child joins the family.
""",
    "api-guidelines.md": """# Versioning
Public APIs are versioned in the URL path, for example /v2/orders; a version is supported for 18 months after the
next one ships.
# Pagination
List endpoints use cursor pagination with a default page size of 50 and a maximum of 500.
# Errors
Errors return a JSON body with a machine-readable code and a human-readable message.
""",
    "office-locations.md": """# Berlin
The Berlin office is at Torstrasse 12 and has 80 desks; it opens at 7:00.
# Lisbon
The Lisbon office overlooks the river, has 40 desks and a rooftop terrace.
# Toronto
The Toronto office opened in 2024 and shares a building with a co-working space.
""",
    "data-retention.md": """# Logs
Application logs are kept for 30 days; audit logs are kept for seven years.
# Customer data
Customer data is deleted within 90 days after a contract ends, unless the law requires longer retention.
# Backups
Encrypted backups are kept for 35 days and are tested with a full restore every quarter.
""",
    "hardware-refresh.md": """# Laptops
Laptops are replaced every four years, or earlier when a repair would cost more than half of a new one.
# Monitors
Monitors are replaced every six years; each desk has two 27-inch monitors.
# Phones
Company phones are replaced every three years.
""",
    "pricing-plans.md": """# Starter
The Starter plan costs 9 dollars per month and includes 10 GB of storage and 3 users.
# Team
The Team plan costs 49 dollars per month and includes 200 GB of storage and up to 25 users.
# Enterprise
Enterprise pricing is on request and includes single sign-on, audit logs and a dedicated support engineer.
""",
    "code-review.md": """# Size
Pull requests should change fewer than 400 lines; larger changes are split into a stack of smaller ones.
# Reviewers
Every pull request needs one approval, and two for changes to billing or authentication code.
# Response time
Reviewers respond within one working day; an urgent fix may be reviewed after it is merged.
""",
    "연차-규정.md": """# 연차 발생
직원은 입사 첫해에 연차 15일을 받으며, 근속 2년마다 하루씩 늘어나 최대 25일까지 받습니다.
# 이월
사용하지 못한 연차는 다음 해 3월 31일까지 이월할 수 있고, 그 이후에는 소멸합니다.
# 반차
반차는 오전 또는 오후 4시간 단위로 사용할 수 있습니다.
""",
    "출장비-규정.md": """# 교통비
국내 출장 시 KTX 일반실 요금을 실비로 지급하며, 항공편은 팀장 승인이 필요합니다.
# 숙박비
숙박비 한도는 서울 하루 15만 원, 그 외 지역 하루 12만 원입니다.
# 정산
출장비는 영수증을 첨부하여 출장 종료 후 14일 이내에 정산해야 합니다.
""",
    "보안-수칙.md": """# 비밀번호
비밀번호는 12자 이상이어야 하며 90일마다 변경해야 합니다.
# 외부 저장장치
USB 메모리 등 외부 저장장치는 보안팀의 승인을 받은 경우에만 사용할 수 있습니다.
# 화면 잠금
자리를 비울 때는 반드시 화면을 잠가야 하며, 5분 동안 입력이 없으면 자동으로 잠깁니다.
""",
    "서버-운영.md": """# 배포
운영 서버 배포는 매주 화요일과 목요일 오후 2시에 진행합니다.
# 모니터링
CPU 사용률이 10분 동안 80%를 넘으면 담당자에게 알림이 갑니다.
# 장애 대응
장애가 발생하면 당직자가 15분 안에 1차 대응을 시작해야 합니다.
""",
    "복리후생.md": """# 식대
점심 식대는 하루 1만 원까지 법인카드로 결제할 수 있습니다.
# 건강검진
모든 직원은 매년 종합 건강검진을 받을 수 있으며, 배우자도 50% 지원됩니다.
# 자기계발
도서 구입비와 온라인 강의 수강료를 연간 100만 원까지 지원합니다.
""",
    "재택근무.md": """# 신청
재택근무는 주 2회까지 가능하며, 전날 오후 6시까지 팀장에게 신청해야 합니다.
# 근무 시간
재택근무 중에도 오전 10시부터 오후 4시까지는 메신저로 연락이 가능해야 합니다.
# 장비
재택근무용 모니터는 회사에서 1대까지 대여해 줍니다.
""",
    "데이터베이스-백업.md": """# 백업 주기
데이터베이스 전체 백업은 매일 새벽 3시에 수행하고, 증분 백업은 1시간마다 수행합니다.
# 보관 기간
백업 파일은 35일 동안 보관하며, 월말 백업은 1년 동안 보관합니다.
# 복구 훈련
분기마다 한 번 백업에서 전체 복구 훈련을 실시합니다.
""",
    "채용-절차.md": """# 서류 전형
서류 전형 결과는 지원 마감 후 일주일 안에 이메일로 알려 드립니다.
# 면접
면접은 실무 면접과 임원 면접 두 단계로 진행됩니다.
# 처우 협의
최종 합격자와는 면접 후 3일 이내에 처우를 협의합니다.
""",
    "회의실-예약.md": """# 예약 방법
회의실은 사내 캘린더에서 최대 2주 전까지 예약할 수 있습니다.
# 사용 시간
한 번에 최대 2시간까지 사용할 수 있으며, 연장은 다음 예약이 없을 때만 가능합니다.
# 노쇼
예약 후 15분 안에 입실하지 않으면 예약이 자동으로 취소됩니다.
""",
    "고객지원-정책.md": """# 응답 시간
유료 고객의 문의에는 영업일 기준 4시간 안에 첫 응답을 드립니다.
# 환불
결제 후 14일 이내에는 전액 환불이 가능합니다.
# 에스컬레이션
해결되지 않은 문의는 48시간 후 2차 지원팀으로 넘어갑니다.
""",
}

# (question, expected document, expected section)
QUESTIONS: list[tuple[str, str, str]] = [
    ("How far in advance must flights be booked?", "travel-policy.md", "Booking"),
    ("What is the hotel reimbursement limit in major cities?", "travel-policy.md", "Expenses"),
    ("How much is the daily meal allowance on trips?", "travel-policy.md", "Per diem"),
    ("What is the minimum password length?", "security-handbook.md", "Passwords"),
    ("Do administrators need hardware security keys?", "security-handbook.md", "Two-factor authentication"),
    ("What should I do if I lose my laptop?", "security-handbook.md", "Lost devices"),
    ("Where do new hires pick up their laptop?", "onboarding.md", "First day"),
    ("How long is the probation period?", "onboarding.md", "Probation"),
    ("How quickly is a replica promoted when the primary database fails?", "database-operations.md", "Failover"),
    ("When is VACUUM FULL allowed?", "database-operations.md", "Vacuum"),
    ("How fast must the on-call engineer acknowledge a page?", "incident-response.md", "Paging"),
    ("When are postmortems published?", "incident-response.md", "Postmortems"),
    ("What does error E12 on the espresso machine mean?", "coffee-machine.md", "Problems"),
    ("Which day are coffee beans delivered?", "coffee-machine.md", "Beans"),
    ("How often do releases ship?", "release-process.md", "Release train"),
    ("How can a release be rolled back?", "release-process.md", "Rollback"),
    ("How many weeks of leave do non-birthing parents get?", "parental-leave.md", "Duration"),
    ("Can parents come back part-time after leave?", "parental-leave.md", "Return to work"),
    ("What is the maximum page size for list endpoints?", "api-guidelines.md", "Pagination"),
    ("How long is an old API version supported?", "api-guidelines.md", "Versioning"),
    ("How many desks does the Berlin office have?", "office-locations.md", "Berlin"),
    ("Which office has a rooftop terrace?", "office-locations.md", "Lisbon"),
    ("How long are audit logs kept?", "data-retention.md", "Logs"),
    ("How often are backups tested with a full restore?", "data-retention.md", "Backups"),
    ("How often are laptops replaced?", "hardware-refresh.md", "Laptops"),
    ("How much does the Team plan cost per month?", "pricing-plans.md", "Team"),
    ("Which plan includes single sign-on?", "pricing-plans.md", "Enterprise"),
    ("How many approvals does a change to billing code need?", "code-review.md", "Reviewers"),
    ("What is the recommended maximum size of a pull request?", "code-review.md", "Size"),
    ("입사 첫해에 연차는 며칠인가요?", "연차-규정.md", "연차 발생"),
    ("남은 연차는 언제까지 이월할 수 있나요?", "연차-규정.md", "이월"),
    ("반차는 몇 시간 단위로 쓸 수 있나요?", "연차-규정.md", "반차"),
    ("서울 출장 숙박비 한도는 얼마인가요?", "출장비-규정.md", "숙박비"),
    ("출장비 정산 기한은?", "출장비-규정.md", "정산"),
    ("비밀번호는 며칠마다 바꿔야 하나요?", "보안-수칙.md", "비밀번호"),
    ("USB 메모리를 써도 되나요?", "보안-수칙.md", "외부 저장장치"),
    ("운영 서버 배포는 언제 하나요?", "서버-운영.md", "배포"),
    ("장애가 나면 몇 분 안에 대응해야 하나요?", "서버-운영.md", "장애 대응"),
    ("점심 식대는 얼마까지 지원되나요?", "복리후생.md", "식대"),
    ("자기계발비 지원 한도는?", "복리후생.md", "자기계발"),
    ("재택근무는 일주일에 몇 번 가능한가요?", "재택근무.md", "신청"),
    ("재택근무 중 연락 가능해야 하는 시간은?", "재택근무.md", "근무 시간"),
    ("데이터베이스 증분 백업 주기는 어떻게 되나요?", "데이터베이스-백업.md", "백업 주기"),
    ("월말 백업은 얼마나 보관하나요?", "데이터베이스-백업.md", "보관 기간"),
    ("면접은 몇 단계로 진행되나요?", "채용-절차.md", "면접"),
    ("회의실은 최대 몇 시간까지 쓸 수 있나요?", "회의실-예약.md", "사용 시간"),
    ("회의실 예약 후 늦게 가면 어떻게 되나요?", "회의실-예약.md", "노쇼"),
    ("유료 고객 문의의 첫 응답 시간은?", "고객지원-정책.md", "응답 시간"),
    ("환불은 언제까지 가능한가요?", "고객지원-정책.md", "환불"),
    ("What is the CPU alert threshold on production servers?", "서버-운영.md", "모니터링"),
]
