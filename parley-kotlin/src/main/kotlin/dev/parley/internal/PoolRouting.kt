package dev.parley.internal

import dev.parley.ConnectionState
import dev.parley.MemberHealth
import dev.parley.ParleyMetrics
import dev.parley.PoolMember
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes

/** A [PoolMember] as the pool tracks it: what it was given, and its recent trouble. */
internal class PoolSlot(
    val index: Int,
    val member: PoolMember,
) {
    val routed = AtomicLong()
    private val handle = member.client as? ClientHandle

    /** The member's gate, read from its options when it is one of ours (always, outside tests). */
    private val gate = handle?.shared?.options?.sendGate

    /**
     * How long a heartbeat ping may go unanswered before the member counts as silent: well past a healthy round trip,
     * well before the pong timeout drops the connection (half of it, or the interval if shorter).
     */
    private val silentAfter = handle?.shared?.options?.heartbeat?.let { minOf(it.interval, it.pongTimeout / 2) }

    /** When the member last had trouble (disconnects, failed sends), oldest first; at most [TROUBLE_KEPT]. */
    private val trouble = ArrayDeque<Long>()

    fun troubled() {
        synchronized(trouble) {
            trouble.addLast(System.nanoTime())
            if (trouble.size > TROUBLE_KEPT) trouble.removeFirst()
        }
    }

    private fun recentTrouble(): Int = synchronized(trouble) {
        val since = System.nanoTime() - TROUBLE_WINDOW.inWholeNanoseconds
        while (trouble.isNotEmpty() && trouble.first() - since < 0) trouble.removeFirst()
        trouble.size
    }

    /** This member's health now, scored against [bestRoundTrip], the best p99 among the connected members. */
    fun health(metrics: ParleyMetrics, bestRoundTrip: Duration?): MemberHealth {
        val connected = metrics.state is ConnectionState.Connected
        val backlog = metrics.sendQueueDepth + metrics.sendersWaiting
        val unanswered = handle?.shared?.telemetry?.unansweredPing()
        val silent = connected && silentAfter != null && unanswered != null && unanswered > silentAfter
        val recentTrouble = recentTrouble()
        val pressure = gate?.pressure() ?: 0.0
        val p99 = metrics.latency.p99
        return MemberHealth(
            index = index,
            state = metrics.state,
            score = if (connected) {
                HealthScore.of(backlog, metrics.sendQueueCapacity, silent, p99, bestRoundTrip, recentTrouble, pressure)
            } else {
                null
            },
            backlog = backlog,
            roundTripP99 = p99,
            silent = silent,
            recentTrouble = recentTrouble,
            gatePressure = pressure,
            routed = routed.get(),
        )
    }

    private companion object {
        const val TROUBLE_KEPT = 16
        val TROUBLE_WINDOW = 1.minutes
    }
}

/**
 * The routing score of a connected member: 0 when healthy and idle, more for each sign of trouble. The steps are
 * coarse on purpose, so that members that differ by noise tie and take turns instead of one taking everything.
 */
internal object HealthScore {
    fun of(
        backlog: Int,
        queueCapacity: Int,
        silent: Boolean,
        roundTrip: Duration?,
        bestRoundTrip: Duration?,
        recentTrouble: Int,
        gatePressure: Double,
    ): Int {
        var score = 0
        // 10 for each tenth of its queue in use: a member whose writes back up is behind a slow peer or link.
        score += (backlog * 10L / queueCapacity.coerceAtLeast(1)).toInt().coerceIn(0, 10) * 10
        // A heartbeat that hears nothing back: the server has stalled, and the connection may soon be dropped.
        if (silent) score += 100
        // Round trips well above the best member's; the millisecond keeps loopback noise from counting.
        if (roundTrip != null && bestRoundTrip != null) {
            score += when {
                roundTrip > bestRoundTrip * 4 + 1.milliseconds -> 40
                roundTrip > bestRoundTrip * 2 + 1.milliseconds -> 20
                else -> 0
            }
        }
        score += recentTrouble.coerceAtMost(4) * 15
        // A rate limit nearly spent: sends there would wait or be refused.
        score += (gatePressure * 5).toInt().coerceIn(0, 5) * 10
        return score
    }
}
