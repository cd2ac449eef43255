"""The budget ledger in Redis, shared by every instance: each operation is one Lua script, so parallel
reservations on any number of instances cannot share the last dollar. A counter Redis does not have (a new
period, or Redis restarted) is seeded from the usage events in the database, the durable totals."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

import redis
from sqlalchemy import Engine, select
from sqlmodel import Session

from core.usage.holds import Hold, Over, Part, dump_parts, load_parts
from core.usage.ledger import ChargeLost, Seed

# Counters in pico-dollars since revision 0016 (micro-dollars before): a new prefix, so counters of the old unit are
# never read again (each is seeded afresh from the usage records) and expire on their own.
PREFIX = "parley:budget2:"
HOLDS = PREFIX + "holds"  # sorted set: hold id -> expiry (epoch seconds)
KEEP_SECONDS = 40 * 86400  # a counter outlives its period (a month at most), then Redis forgets it
UNSEEDED = "budget counters could not be seeded"  # an internal fault, never a user's message

# KEYS: counters..., ARGV: n, now, expires, hold id, hold json, keep, then (amount, limit, seed or "") per counter.
# Returns {0} held; {1, i, used, held} counter i would go over; {2, i} counter i is missing and needs a seed.
_RESERVE = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local amount, limit, seed = tonumber(ARGV[4 + 3 * i]), tonumber(ARGV[5 + 3 * i]), ARGV[6 + 3 * i]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    if seed == '' then return {2, i} end
    redis.call('HSET', KEYS[i], 'used', seed, 'held', 0)
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[6]))
  end
  local used = tonumber(redis.call('HGET', KEYS[i], 'used'))
  local held = tonumber(redis.call('HGET', KEYS[i], 'held'))
  if used + held + amount > limit then return {1, i, used, held} end
end
for i = 1, n do redis.call('HINCRBY', KEYS[i], 'held', ARGV[4 + 3 * i]) end
redis.call('SET', KEYS[n + 1], ARGV[5], 'EX', tonumber(ARGV[6]))
redis.call('ZADD', KEYS[n + 2], tonumber(ARGV[3]), ARGV[4])
return {0}
"""

# KEYS: counters..., hold key, holds set, released marker; ARGV: n, hold id, reaping ("1"/"0"), known ("1" when
# actual amounts are given), then (minus the held amount, actual) per counter: integers as Python wrote them.
# A hold still there: release it and add the actual. Gone and reaped without usage: add the actual once.
_SETTLE = """
local n = tonumber(ARGV[1])
if redis.call('DEL', KEYS[n + 1]) == 1 then
  redis.call('ZREM', KEYS[n + 2], ARGV[2])
  for i = 1, n do
    redis.call('HINCRBY', KEYS[i], 'held', ARGV[3 + 2 * i])
    redis.call('HINCRBY', KEYS[i], 'used', ARGV[4 + 2 * i])
  end
  if ARGV[3] == '1' and ARGV[4] == '0' then redis.call('SET', KEYS[n + 3], 1, 'EX', 86400) end
  return 1
end
redis.call('ZREM', KEYS[n + 2], ARGV[2])
if ARGV[3] == '0' and redis.call('DEL', KEYS[n + 3]) == 1 then
  for i = 1, n do redis.call('HINCRBY', KEYS[i], 'used', ARGV[4 + 2 * i]) end
end
return 0
"""

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def client(url: str) -> redis.Redis:
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=5, health_check_interval=30)
        return _clients[url]


@lru_cache(maxsize=8)
def _scripts(url: str) -> tuple[Any, Any]:
    r = client(url)
    return r.register_script(_RESERVE), r.register_script(_SETTLE)


def _key(part: Part) -> str:
    return f"{PREFIX}{part.scope}:{part.period}"


class RedisLedger:
    def __init__(self, url: str, engine: Engine, seed: Seed, clock: Callable[[], float]) -> None:
        self.url, self.engine, self.seed, self.clock = url, engine, seed, clock
        self.redis = client(url)
        self._reserve, self._settle = _scripts(url)

    def reserve(self, hold: Hold, ttl: timedelta) -> Over | None:
        seeds: dict[int, int] = {}
        for _ in range(len(hold.parts) + 1):
            now = self.clock()
            args: list[Any] = [len(hold.parts), now, now + ttl.total_seconds(), hold.id, _dump(hold), KEEP_SECONDS]
            for i, part in enumerate(hold.parts, 1):
                args += [part.amount, part.limit, seeds.get(i, "")]
            keys = [_key(p) for p in hold.parts] + [PREFIX + "hold:" + hold.id, HOLDS]
            result = [int(x) for x in self._reserve(keys=keys, args=args)]
            if result[0] == 0:
                return None
            if result[0] == 1:
                return Over(hold.parts[result[1] - 1], result[2], result[3])
            seeds[result[1]] = self._seed_value(hold.parts[result[1] - 1])
        raise RuntimeError(UNSEEDED)  # pragma: no cover - each pass seeds one counter: never reached

    def _seed_value(self, part: Part) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(self.seed(part.scope, part.period))).scalar_one() or 0)

    def settle(self, session: Session, hold: Hold, actual: dict[str, int]) -> None:
        """Settled once the caller's transaction (with the usage event) commits; a rollback leaves the hold."""
        from sqlalchemy import event

        event.listen(session, "after_commit", lambda _s: self._run_settle(hold, actual, reaping=False), once=True)

    def _run_settle(self, hold: Hold, actual: dict[str, int] | None, *, reaping: bool) -> None:
        keys = [_key(p) for p in hold.parts] + [PREFIX + "hold:" + hold.id, HOLDS, PREFIX + "released:" + hold.id]
        args: list[Any] = [len(hold.parts), hold.id, "1" if reaping else "0", "0" if actual is None else "1"]
        for part in hold.parts:
            args += [-part.amount, (actual or {}).get(part.scope, 0)]
        self._settle(keys=keys, args=args)

    def release(self, hold: Hold) -> None:
        self._run_settle(hold, {}, reaping=False)

    def read(self, parts: Sequence[Part]) -> dict[str, tuple[int, int]]:
        out = {}
        for part in parts:
            used, held = self.redis.hmget(_key(part), ["used", "held"])  # type: ignore[misc]
            out[part.scope] = (int(used), int(held or 0)) if used is not None else (self._seed_value(part), 0)
        return out

    def find(self, hold_id: str) -> Hold | None:
        raw = self.redis.get(PREFIX + "hold:" + hold_id)
        return None if raw is None else _load(hold_id, raw)

    def renew(self, hold_ids: Sequence[str], ttl: timedelta) -> None:
        """The calls holding these are still running (in this process): push their expiry back."""
        expires = self.clock() + ttl.total_seconds()
        self.redis.zadd(HOLDS, dict.fromkeys(hold_ids, expires), xx=True)

    def reap(self, spent: Callable[[Hold], dict[str, int] | None], charge: ChargeLost, limit: int = 100) -> int:
        """Holds past their expiry (their process died): released, and their call charged once — as its usage
        event says if one was written before the process died, else as held (one instance claims the charge)."""
        ids: list[bytes] = self.redis.zrangebyscore(HOLDS, "-inf", self.clock(), start=0, num=limit)  # type: ignore[assignment]
        done = 0
        for raw_id in ids:
            hold_id = raw_id.decode()
            raw = self.redis.get(PREFIX + "hold:" + hold_id)
            if raw is None:
                self.redis.zrem(HOLDS, hold_id)
                continue
            hold = _load(hold_id, raw)
            actual = spent(hold)
            if actual is None and hold.call is not None:
                if not self.redis.set(PREFIX + "charging:" + hold_id, 1, nx=True, ex=86400):
                    continue  # another instance is charging it
                with Session(self.engine) as session:
                    actual = charge(session, hold)
                    session.commit()
            self._run_settle(hold, actual, reaping=True)
            done += 1
        return done


def _dump(hold: Hold) -> str:
    return json.dumps([hold.user_id, dump_parts(hold)])


def _load(hold_id: str, raw: bytes | str) -> Hold:
    user_id, stored = json.loads(raw)
    return load_parts(hold_id, int(user_id), stored)
