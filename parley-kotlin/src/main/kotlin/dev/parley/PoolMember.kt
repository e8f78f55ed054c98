package dev.parley

/**
 * One client of a [ParleyPool], with the [Requests] layer in its options if it has one (then [ParleyPool.request] can
 * use it). The pool owns the client from then on: it stops it when the pool stops.
 *
 * @property client a started client; see [Parley.start].
 * @property requests the [Requests] layer given to [client]'s options, or `null`.
 */
public class PoolMember(
    public val client: ParleyClient,
    public val requests: Requests<*>? = null,
) {
    override fun toString(): String = "PoolMember(${client.name}, requests=${requests != null})"
}

/** Makes the pool's clients: called once per member, as the pool starts. */
public fun interface PoolMemberFactory {
    /**
     * Starts the client numbered [index] (from 0) for [endpoint] (the pool's endpoints taken in turn) and returns it.
     * Each call must build its own options: layers such as [Requests] serve one client.
     */
    public fun create(index: Int, endpoint: String): PoolMember
}
