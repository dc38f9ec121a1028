"""What a Sentinel must know before a failover can succeed, for the tests that force or
wait on one."""

from typing import Any


def replica_promotable(watcher: Any, master_name: str, replicas: int = 1) -> bool:
    """Whether the Sentinel itself lists that many replicas of the master, each up and
    linked to it: Sentinel learns of replicas from the master's INFO (every ~10 s), so a
    replica that is linked by its own account may still be unknown to it, and a forced
    failover then fails with NOGOODSLAVE."""
    import redis

    try:
        known = watcher.sentinel_slaves(master_name)
    except redis.RedisError:
        return False
    healthy = [replica for replica in known
               if not (replica["is_sdown"] or replica["is_odown"] or replica["is_disconnected"])
               and replica.get("master-link-status") == "ok"]
    return len(healthy) >= replicas
