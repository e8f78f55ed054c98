package dev.parley

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Dead-connection detection: while connected, Parley pings after [interval] without any inbound frame, and declares
 * the connection dead when neither the matching pong nor any other frame arrives within [pongTimeout] of that ping.
 * The socket is then aborted (not closed politely: the link is presumed dead) with [DisconnectReason.HeartbeatTimedOut],
 * and the reconnect policy applies.
 *
 * Detection time after the peer goes silent is at most `interval + pongTimeout` (plus scheduling slack). Any inbound
 * frame proves liveness, so a busy connection is never pinged, and a peer that streams data but never answers pings is
 * not declared dead. Each ping carries a unique payload; only the pong that echoes the outstanding ping counts as its
 * answer and gives a round-trip sample ([ParleyMetrics.latency]); stale pongs are ignored.
 *
 * With [app] set, the pings are application messages instead (a JSON `public/test` call, say), and only data
 * messages count as proof of life; see [AppHeartbeat].
 *
 * @property interval idle time before a ping.
 * @property pongTimeout how long to wait for liveness after a ping, independent of [interval].
 * @property app an application-level ping and its answer, or `null` (the default) for protocol pings.
 */
public data class HeartbeatPolicy(
    val interval: Duration = 15.seconds,
    val pongTimeout: Duration = 10.seconds,
    val app: AppHeartbeat? = null,
) {
    init {
        require(interval.isPositive()) { "heartbeat.interval must be positive but was $interval" }
        require(pongTimeout.isPositive()) { "heartbeat.pongTimeout must be positive but was $pongTimeout" }
    }

    /** The mutable side of [HeartbeatPolicy], used by [ParleyOptions.Builder.heartbeat]. */
    public class Builder internal constructor() {
        /** See [HeartbeatPolicy.interval]. Default 15 s. */
        public var interval: Duration = 15.seconds

        /** See [HeartbeatPolicy.pongTimeout]. Default 10 s. */
        public var pongTimeout: Duration = 10.seconds

        /** See [HeartbeatPolicy.app]. Default `null`: protocol pings. */
        public var app: AppHeartbeat? = null

        internal fun build(): HeartbeatPolicy = HeartbeatPolicy(interval, pongTimeout, app)
    }
}
