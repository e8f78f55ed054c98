package dev.parley

/**
 * How [Subscriptions] speaks a server's subscription protocol: the messages that subscribe and unsubscribe a key
 * (a channel, a topic, an instrument), and how the server's confirmations look. `JsonRpc.subscriptions(…)` in
 * `parley-jsonrpc` is the ready-made one for JSON-RPC exchanges. The functions run on the client's coroutine or the
 * caller's and must be quick.
 *
 * @param Key the subscription key; compared with `equals`, so it needs value semantics (a `String`, a data class).
 */
public interface SubscriptionCodec<Key : Any> {
    /** The message that subscribes [key]. */
    public fun subscribe(key: Key): Frame

    /** The message that unsubscribes [key]. */
    public fun unsubscribe(key: Key): Frame

    /**
     * What inbound [frame] says about subscriptions, or `null` when it is not a subscription message (a data update
     * on a subscribed channel is not: it reaches the handler).
     */
    public fun confirmation(frame: Frame): SubscriptionReply<Key>?
}

/** A server's answer about subscriptions, as [SubscriptionCodec.confirmation] reads it. */
public sealed class SubscriptionReply<out Key : Any> {
    /** The server confirmed these subscriptions. */
    public data class Confirmed<Key : Any>(
        val keys: List<Key>,
    ) : SubscriptionReply<Key>()

    /** The server refused these subscriptions, saying [reason]. */
    public data class Refused<Key : Any>(
        val keys: List<Key>,
        val reason: String,
    ) : SubscriptionReply<Key>()

    /** The server confirmed that these are unsubscribed: nothing changes, the message is consumed. */
    public data class Unsubscribed<Key : Any>(
        val keys: List<Key>,
    ) : SubscriptionReply<Key>()
}

/** Where a subscription in [Subscriptions] is. Unsubscribed ones are no longer listed. */
public sealed class SubscriptionState {
    /** Sent and not confirmed yet, or waiting for the next connection to be sent. */
    public object Pending : SubscriptionState() {
        override fun toString(): String = "Pending"
    }

    /** The server confirmed it on the current connection. */
    public object Confirmed : SubscriptionState() {
        override fun toString(): String = "Confirmed"
    }

    /**
     * The server refused it, or did not confirm it within the confirmation timeout. It is not sent again, also not
     * after a reconnect, until [Subscriptions.subscribe] is called for it again.
     *
     * @property reason the server's reason, or the timeout that passed.
     */
    public data class Failed(
        val reason: String,
    ) : SubscriptionState()
}

/** Called with each change of a subscription's state (`null` once unsubscribed), on the client's thread: be quick. */
public fun interface SubscriptionListener<Key : Any> {
    /** [key] is now in [state], or unsubscribed when [state] is `null`. */
    public fun changed(key: Key, state: SubscriptionState?)
}

/**
 * What a [Subscriptions] holds and has done.
 *
 * @property pending subscriptions waiting for confirmation, or for a connection.
 * @property confirmed subscriptions confirmed on the current connection.
 * @property failed subscriptions refused or not confirmed in time.
 * @property restored subscribe messages sent again after a reconnect, in all.
 * @property timedOut confirmations that did not come in time, in all.
 */
public data class SubscriptionMetrics(
    val pending: Int,
    val confirmed: Int,
    val failed: Int,
    val restored: Long,
    val timedOut: Long,
)
