package dev.parley

/**
 * Something that happened in a [ParleyPool], on [ParleyPool.events]. Each member's own events stay on its client's
 * [ParleyClient.events]; these are the pool's view: members coming and going, sends moved to another member.
 * [Rerouted] and [FailedOver] come at most 256 times between two [MemberConnected] events, so an outage cannot push
 * the lifecycle events out of a slow collector's buffer (all are counted in [PoolMetrics]).
 */
public sealed class PoolEvent {
    /** Member [index] connected; [connection] numbers it as [ConnectionState.Connected.connection] does. */
    public data class MemberConnected(
        val index: Int,
        val connection: Long,
    ) : PoolEvent()

    /** Member [index]'s connection (or attempt) ended with [reason]; sends go to the other members meanwhile. */
    public data class MemberDisconnected(
        val index: Int,
        val reason: DisconnectReason,
    ) : PoolEvent()

    /**
     * Member [from] refused a frame before queueing it ([cause]: not connected, a full queue, a rate limit), so it was
     * never on the wire and went to member [to]; any frame may be rerouted.
     */
    public data class Rerouted(
        val from: Int,
        val to: Int,
        val cause: ParleyException,
    ) : PoolEvent()

    /**
     * An idempotent frame was lost with member [from]'s connection ([cause]) and was sent again through member [to].
     * Only frames sent with `idempotent = true` fail over; others fail to their caller.
     */
    public data class FailedOver(
        val from: Int,
        val to: Int,
        val cause: ParleyException,
    ) : PoolEvent()

    /** The pool stopped, with every member; no further event follows. */
    public data object Stopped : PoolEvent()
}
