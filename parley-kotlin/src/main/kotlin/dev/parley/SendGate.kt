package dev.parley

import kotlin.time.Duration

/**
 * A gate every data frame sent through a client passes first ([ParleyOptions.sendGate]): a rate limit, typically
 * (`TokenBucketGate` in `parley-ratelimit`). The gate is asked for each [Frame.Text] and [Frame.Binary] given to
 * [ParleyClient.send], [ParleyClient.enqueue] and [ParleyClient.trySend], before the frame is queued; pings, pongs,
 * close frames and a handler's pushes (answers to the server) do not pass it. One gate may serve several clients.
 *
 * A frame that was let through and then failed before it was written (a connection that dropped while it was still
 * queued, a full queue, a stopped client) is [refund]ed, so only frames actually written spend the budget. A caller
 * waiting for its turn suspends in its own coroutine: there is no queue inside the gate.
 */
public interface SendGate {
    /**
     * Reserves [frame]'s cost: [GateDecision.Pass] after a wait (zero to go now; the cost is taken, so callers pass
     * in the order they asked), or [GateDecision.Refuse] when it would wait longer than the gate allows. With
     * [mayWait] `false` (from [ParleyClient.trySend]) anything but an immediate pass must be a refusal.
     */
    public fun reserve(frame: Frame, mayWait: Boolean): GateDecision

    /** [frame], let through before, was not written: give its cost back. */
    public fun refund(frame: Frame)

    /**
     * How hard the gate is pressed now, from 0.0 (its whole budget is free) to 1.0 (spent, or senders waiting): a
     * [ParleyPool] routes sends away from pressed clients. Must be cheap and safe from any thread; 0.0 by default.
     */
    public fun pressure(): Double = 0.0
}

/** What a [SendGate] decided for a frame. */
public sealed class GateDecision {
    /** Go after [after] (zero: now); the frame's cost is taken. */
    public data class Pass(
        val after: Duration,
    ) : GateDecision()

    /** Not now: the frame would wait longer than allowed; it could pass in [retryAfter]. Nothing was taken. */
    public data class Refuse(
        val retryAfter: Duration,
    ) : GateDecision()
}

/**
 * The [SendGate] refused the frame: sending it now would break the rate limit, and waiting would take longer than
 * allowed. It was not sent, nothing was spent, and it could pass in [retryAfterMillis].
 *
 * @property retryAfterMillis when the frame could pass, in milliseconds from now.
 */
public class RateLimitedException(
    public val retryAfterMillis: Long,
) : ParleyException("rate limited: the frame was not sent; it could pass in $retryAfterMillis ms")
