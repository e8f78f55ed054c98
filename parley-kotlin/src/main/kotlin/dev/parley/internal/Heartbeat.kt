package dev.parley.internal

import dev.parley.HeartbeatPolicy
import java.nio.ByteBuffer
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds

/**
 * One connection's heartbeat, owned by the connection loop: it decides, each time its timer fires, whether to ping,
 * to wait, or to declare the connection dead. Inbound frames only move [Telemetry.lastInboundNanos] (written by the
 * reader), so a busy connection costs nothing here and is never pinged.
 *
 * With an [AppHeartbeat] the pings are messages and only messages prove liveness: the loop reports each one
 * ([onMessage]), and a server whose WebSocket layer still pings and pongs while its application is stuck is found.
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

        /** Send [frame], an application-level ping, then check again after [delay]. */
        class AppPing(
            val frame: dev.parley.Frame,
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

    /** The application-level ping and its answer, or `null` for protocol pings. */
    val app: dev.parley.AppHeartbeat? = policy.app

    /** The sequence of the app ping still waiting for its answer, 0 for none. */
    private var appOutstanding = 0L

    /** [Clock.nanos] of the last data message (app mode's proof of life), from the connection's start. */
    private var lastMessageNanos = clock.nanos()

    /** The first check: a full interval after the connection opened. */
    fun start(): Duration = policy.interval

    /** A data message arrived at [receivedAtNanos] (app mode only counts these). */
    fun onMessage(receivedAtNanos: Long) {
        lastMessageNanos = receivedAtNanos
    }

    fun onDue(): Next {
        val now = clock.nanos()
        val lastInbound = if (app != null) lastMessageNanos else telemetry.lastInboundNanos
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
        if (app != null) {
            pingSentAt = now
            telemetry.pingSentNanos = now
            awaitingLife = true
            appOutstanding = ++sequence
            return Next.AppPing(app.ping(sequence), policy.pongTimeout)
        }
        val payload = ByteBuffer.allocate(PAYLOAD_BYTES).putLong(SALT).putLong(++sequence).array()
        pingPayload = payload
        pingSentAt = now
        telemetry.pingSentNanos = now
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

    /**
     * Returns the round-trip time if [answered] is the sequence of the last app ping, or `null` for an older one;
     * [receivedAtNanos] is when the answer was read.
     */
    fun onAppPong(answered: Long, receivedAtNanos: Long): Duration? {
        if (appOutstanding == 0L || answered != appOutstanding) return null
        appOutstanding = 0
        awaitingLife = false
        return (receivedAtNanos - pingSentAt).coerceAtLeast(0).nanoseconds
    }

    private companion object {
        const val PAYLOAD_BYTES = 16

        /** Makes our payloads unlike anything a user's own pings are likely to carry. */
        val SALT = 0x5061726c65794842L xor System.nanoTime()
    }
}
