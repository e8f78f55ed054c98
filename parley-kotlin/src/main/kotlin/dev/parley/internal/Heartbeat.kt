package dev.parley.internal

import dev.parley.HeartbeatPolicy
import java.nio.ByteBuffer
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds

/**
 * One connection's heartbeat, owned by the connection loop: it decides, each time its timer fires, whether to ping,
 * to wait, or to declare the connection dead. Inbound frames only move [Telemetry.lastInboundNanos] (written by the
 * reader), so a busy connection costs nothing here and is never pinged.
 */
internal class Heartbeat(
    private val policy: HeartbeatPolicy,
    private val telemetry: Telemetry,
    private val clock: Clock,
) {
    /** What the loop must do after [onDue]. */
    sealed class Next {
        /** Check again after [delay]. */
        data class Wait(
            val delay: Duration,
        ) : Next()

        /** Send [payload] as a ping, then check again after [delay]. */
        class Ping(
            val payload: ByteArray,
            val delay: Duration,
        ) : Next()

        /** No pong and no frame within the pong timeout: the connection is dead. */
        object Dead : Next()
    }

    private val intervalNanos = policy.interval.inWholeNanoseconds
    private val timeoutNanos = policy.pongTimeout.inWholeNanoseconds

    /** The payload of the last ping, kept to match its pong; `null` once matched or never sent. */
    private var pingPayload: ByteArray? = null
    private var pingSentAt = 0L

    /** Whether the last ping still waits for proof of life (its pong, or any frame). */
    private var awaitingLife = false
    private var sequence = 0L

    /** The first check: a full interval after the connection opened. */
    fun start(): Duration = policy.interval

    fun onDue(): Next {
        val now = clock.nanos()
        val lastInbound = telemetry.lastInboundNanos
        if (awaitingLife) {
            if (lastInbound - pingSentAt > 0) {
                awaitingLife = false // a frame arrived since the ping: alive, even if the pong never comes
            } else {
                val waited = now - pingSentAt
                return if (waited >= timeoutNanos) Next.Dead else Next.Wait((timeoutNanos - waited).nanoseconds)
            }
        }
        val idle = now - lastInbound
        if (idle < intervalNanos) return Next.Wait((intervalNanos - idle).nanoseconds)
        val payload = ByteBuffer.allocate(PAYLOAD_BYTES).putLong(SALT).putLong(++sequence).array()
        pingPayload = payload
        pingSentAt = now
        awaitingLife = true
        return Next.Ping(payload, policy.pongTimeout)
    }

    /**
     * Returns the round-trip time if [payload] answers the last ping, or `null` for any other pong; [receivedAtNanos]
     * is when the pong was read, so time spent queued behind the handler does not count.
     */
    fun onPong(payload: ByteArray, receivedAtNanos: Long): Duration? {
        val expected = pingPayload ?: return null
        if (!expected.contentEquals(payload)) return null
        pingPayload = null
        awaitingLife = false
        return (receivedAtNanos - pingSentAt).coerceAtLeast(0).nanoseconds
    }

    private companion object {
        const val PAYLOAD_BYTES = 16

        /** Makes our payloads unlike anything a user's own pings are likely to carry. */
        val SALT = 0x5061726c65794842L xor System.nanoTime()
    }
}
