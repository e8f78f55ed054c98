package dev.parley

import kotlin.time.Duration

/**
 * The state of every member of a [ParleyPool], in member order.
 *
 * @property members each member's [ParleyClient.state].
 */
public data class PoolState(
    val members: List<ConnectionState>,
) {
    /** How many members are connected: the pool can send while this is above zero. */
    val connected: Int get() = members.count { it is ConnectionState.Connected }

    /** Whether every member has stopped. */
    val stopped: Boolean get() = members.all { it is ConnectionState.Stopped }
}

/**
 * A pool's counts so far and each member's health now.
 *
 * @property members each member's health, in member order.
 * @property sent frames the pool sent (each counted once, on the member that wrote it).
 * @property requests requests the pool routed (answered or not).
 * @property rerouted frames a member refused before queueing them, sent through another ([PoolEvent.Rerouted]).
 * @property failedOver idempotent frames lost with a connection and sent again through another
 *   ([PoolEvent.FailedOver]).
 * @property unavailable sends and requests refused because no member was connected ([PoolUnavailableException]).
 */
public data class PoolMetrics(
    val members: List<MemberHealth>,
    val sent: Long,
    val requests: Long,
    val rerouted: Long,
    val failedOver: Long,
    val unavailable: Long,
)

/**
 * How a [ParleyPool] sees one member when it routes: the lower the [score], the more it is chosen; members with the
 * same score take turns.
 *
 * @property index the member's number, from 0.
 * @property state the member's connection state.
 * @property score the routing score, or `null` while the member is not connected (then it is not chosen). 0 is a
 *   healthy, idle member; see [ParleyPool] for what adds to it.
 * @property backlog frames queued on the member and senders waiting for room.
 * @property roundTripP99 the member's heartbeat round-trip p99, or `null` without samples.
 * @property silent whether the member's heartbeat ping has gone unanswered, with nothing else heard either, for longer
 *   than its interval or half its pong timeout (whichever is shorter): its server has probably stalled.
 * @property recentTrouble disconnects and failed sends in the last minute.
 * @property gatePressure its send gate's [SendGate.pressure], 0.0 without a gate.
 * @property routed frames written and requests answered through this member so far, and the times [ParleyPool.pick]
 *   chose it.
 */
public data class MemberHealth(
    val index: Int,
    val state: ConnectionState,
    val score: Int?,
    val backlog: Int,
    val roundTripP99: Duration?,
    val silent: Boolean,
    val recentTrouble: Int,
    val gatePressure: Double,
    val routed: Long,
)
