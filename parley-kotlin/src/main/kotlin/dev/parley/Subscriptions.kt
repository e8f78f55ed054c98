package dev.parley

import dev.parley.internal.ClientHandle
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toKotlinDuration

/**
 * Subscriptions that survive reconnects (ZenWebsocket's `subscribe` and restore, WebsockexNova's subscription
 * lifecycle): a registry of keys (channels, topics) that [codec] turns into subscribe and unsubscribe messages and
 * whose confirmations it recognises. Add it to the options with `layer(subscriptions)`, before a [Requests] if both
 * are used and the server confirms subscriptions with replies.
 *
 * Each subscription is [SubscriptionState.Pending] until the server confirms it ([SubscriptionState.Confirmed]) or
 * refuses it, or [confirmTimeout] passes ([SubscriptionState.Failed]); [unsubscribe] removes it. After every
 * reconnect the pending and confirmed ones are sent again, once each, in the order they were first subscribed, before
 * any frame queued while connecting; failed and unsubscribed ones never are. A subscription made while disconnected
 * waits for the next connection. The registry is [states] (or [addListener] from Java), and [metrics].
 *
 * Confirmation messages are consumed; data on a subscribed channel reaches the handler as usual.
 *
 * @property confirmTimeout how long a sent subscription may wait for its confirmation (default 10 s).
 */
public class Subscriptions<Key : Any>(
    private val codec: SubscriptionCodec<Key>,
    public val confirmTimeout: Duration = 10.seconds,
) : ClientLayer {
    init {
        require(confirmTimeout.isPositive()) { "confirmTimeout must be positive but was $confirmTimeout" }
    }

    private class Entry {
        var state: SubscriptionState = SubscriptionState.Pending
        var timer: Job? = null

        /** Whether its subscribe message went out on some connection, so a later one is a restore. */
        var sentBefore = false
    }

    /** Guards [registry] and [live]: subscribe() from any thread and the client's callbacks meet here. */
    private val lock = Any()

    /** In the order first subscribed, which is the order of restores. */
    private val registry = LinkedHashMap<Key, Entry>()

    /** Between onConnect and onDisconnect: a new subscription is sent at once, else at the next connect. */
    private var live = false

    private val client = AtomicReference<ClientHandle?>()
    private lateinit var timers: CoroutineScope
    private val published = MutableStateFlow<Map<Key, SubscriptionState>>(emptyMap())
    private val listeners = CopyOnWriteArrayList<SubscriptionListener<Key>>()

    /** Changes not yet told to the listeners, oldest first; guarded by [lock]. */
    private val untold = ArrayDeque<Pair<Key, SubscriptionState?>>()

    /** Whether a thread is telling the listeners now; guarded by [lock]. */
    private var telling = false
    private val restored = AtomicLong()
    private val timedOut = AtomicLong()

    /** Every subscription and its state, in the order subscribed. */
    public val states: StateFlow<Map<Key, SubscriptionState>> = published.asStateFlow()

    override fun attach(client: ParleyClient) {
        val handle = client as? ClientHandle ?: error("attach is called by the client itself")
        check(this.client.compareAndSet(null, handle)) { "a Subscriptions serves one client; this one already has one" }
        timers = CoroutineScope(SupervisorJob() + handle.shared.dispatcher)
    }

    /**
     * Subscribes [key]: sent now if connected, else on the next connection (also before the client starts: then on
     * its first). A key already pending or confirmed is left as it is; a failed one is tried again.
     */
    public fun subscribe(key: Key) {
        changing {
            val existing = registry[key]
            if (existing != null && existing.state !is SubscriptionState.Failed) return@changing emptyList()
            val entry = existing ?: Entry().also { registry[key] = it }
            entry.state = SubscriptionState.Pending
            if (live) send(attachedClient(), key, entry)
            listOf(key to entry.state)
        }
    }

    /** Unsubscribes [key]: the unsubscribe message goes out if connected, and it is never restored. */
    public fun unsubscribe(key: Key) {
        changing {
            val entry = registry.remove(key) ?: return@changing emptyList()
            entry.timer?.cancel()
            // If it cannot be sent the connection is going down, and the subscription goes with it.
            if (live) attachedClient().trySend(codec.unsubscribe(key))
            listOf(key to null)
        }
    }

    /**
     * Calls [listener] with each change from now on, in the order the changes were made and one at a time, on the
     * thread that made a change (the client's or a subscriber's). A listener that throws is logged and skipped.
     */
    public fun addListener(listener: SubscriptionListener<Key>) {
        listeners += listener
    }

    /** Stops calling [listener]. */
    public fun removeListener(listener: SubscriptionListener<Key>) {
        listeners -= listener
    }

    /** Counts so far; safe from any thread. */
    public fun metrics(): SubscriptionMetrics {
        val now = published.value.values
        return SubscriptionMetrics(
            pending = now.count { it == SubscriptionState.Pending },
            confirmed = now.count { it == SubscriptionState.Confirmed },
            failed = now.count { it is SubscriptionState.Failed },
            restored = restored.get(),
            timedOut = timedOut.get(),
        )
    }

    override suspend fun onConnect() {
        val handle = attachedClient()
        // Chosen under the lock, sent outside it: enqueue from onConnect goes ahead of frames queued meanwhile.
        val restore = mutableListOf<Pair<Key, Entry>>()
        changing {
            live = true
            registry.filterValues { it.state !is SubscriptionState.Failed }.mapNotNull { (key, entry) ->
                restore += key to entry
                // Only a change is published: most are pending already, since the last disconnect.
                if (entry.state == SubscriptionState.Pending) return@mapNotNull null
                entry.state = SubscriptionState.Pending
                key to entry.state
            }
        }
        for ((key, entry) in restore) {
            // Unsubscribed from another thread since the list was made: not restored.
            if (synchronized(lock) { registry[key] !== entry }) continue
            try {
                handle.enqueue(codec.subscribe(key))
            } catch (e: ParleyException) {
                // The connection is already going down; the rest wait for the next one.
                handle.shared.log.debug("restoring subscriptions stopped: {}", e.message)
                return
            }
            if (entry.sentBefore) {
                restored.incrementAndGet()
                emit { ParleyEvent.SubscriptionRestored(key) }
            }
            entry.sentBefore = true
            synchronized(lock) {
                if (registry[key] === entry && entry.state == SubscriptionState.Pending) startTimer(key, entry)
            }
        }
    }

    override suspend fun onFrame(frame: Frame): Boolean {
        val reply = codec.confirmation(frame) ?: return false
        val settled = changing {
            when (reply) {
                is SubscriptionReply.Confirmed -> settle(reply.keys, SubscriptionState.Confirmed)
                is SubscriptionReply.Refused -> settle(reply.keys, SubscriptionState.Failed(reply.reason))
                is SubscriptionReply.Unsubscribed -> emptyList()
            }
        }
        // Emitted after the lock, where the listeners are told too.
        for ((key, state) in settled) {
            when (state) {
                is SubscriptionState.Failed -> emit { ParleyEvent.SubscriptionRefused(key, state.reason) }
                else -> emit { ParleyEvent.SubscriptionConfirmed(key) }
            }
        }
        return true
    }

    override suspend fun onDisconnect(reason: DisconnectReason) {
        changing {
            live = false
            registry.mapNotNull { (key, entry) ->
                entry.timer?.cancel()
                // Confirmed on a connection that is gone: pending until the next one confirms it again.
                if (entry.state == SubscriptionState.Confirmed) {
                    entry.state = SubscriptionState.Pending
                    key to entry.state
                } else {
                    null
                }
            }
        }
    }

    override fun onStop(reason: StopReason) {
        synchronized(lock) { live = false }
        if (::timers.isInitialized) timers.cancel()
    }

    override fun toString(): String = "Subscriptions(${published.value})"

    private fun settle(keys: List<Key>, state: SubscriptionState): List<Pair<Key, SubscriptionState?>> =
        keys.mapNotNull { key ->
            // A confirmation for a key we no longer hold (unsubscribed meanwhile) changes nothing.
            val entry = registry[key]?.takeIf { it.state == SubscriptionState.Pending } ?: return@mapNotNull null
            entry.timer?.cancel()
            entry.state = state
            key to state
        }

    /** Sends [key]'s subscribe message now and, if it was taken, starts its confirmation timer. */
    private fun send(handle: ClientHandle, key: Key, entry: Entry) {
        if (handle.trySend(codec.subscribe(key)) is SendResult.Enqueued) {
            entry.sentBefore = true
            startTimer(key, entry)
        } else {
            handle.shared.log.debug("subscription {} waits for the next connection", key)
        }
    }

    private fun startTimer(key: Key, entry: Entry) {
        entry.timer?.cancel()
        entry.timer = timers.launch {
            delay(confirmTimeout)
            val failed = changing {
                if (registry[key] !== entry || entry.state != SubscriptionState.Pending) return@changing emptyList()
                timedOut.incrementAndGet()
                entry.state = SubscriptionState.Failed("not confirmed within $confirmTimeout")
                listOf(key to entry.state)
            }
            if (failed.isNotEmpty()) emit { ParleyEvent.SubscriptionTimedOut(key, confirmTimeout) }
        }
    }

    /**
     * Runs [change] under the lock and publishes the registry, then tells the listeners outside it. Changes come from
     * the client's thread and the subscribers' at once, so they are queued in the order made and told by one thread
     * at a time: a listener never hears Pending after the Confirmed that followed it.
     */
    private inline fun changing(
        change: () -> List<Pair<Key, SubscriptionState?>>,
    ): List<Pair<Key, SubscriptionState?>> {
        val changes = synchronized(lock) {
            val changes = change()
            if (changes.isEmpty()) return changes
            published.value = registry.mapValues { it.value.state }
            untold.addAll(changes)
            // Another thread is telling the listeners; it tells these too, after the ones before them.
            if (telling) return changes
            telling = true
            changes
        }
        tellListeners()
        return changes
    }

    /** Emits a subscription event on the client's event stream, within the per-connection cap. */
    private inline fun emit(make: () -> ParleyEvent) {
        val telemetry = client.get()?.shared?.telemetry ?: return
        telemetry.emitCapped(telemetry.subscriptionEvents, make)
    }

    private fun tellListeners() {
        while (true) {
            val (key, state) = synchronized(lock) {
                untold.removeFirstOrNull() ?: run {
                    telling = false
                    return
                }
            }
            for (listener in listeners) {
                try {
                    listener.changed(key, state)
                } catch (e: Exception) {
                    // A listener's bug must not stop the others, nor the client loop that confirmed the change.
                    client.get()?.shared?.log?.warn("a subscription listener failed on {} -> {}", key, state, e)
                }
            }
        }
    }

    private fun attachedClient(): ClientHandle = client.get()
        ?: throw IllegalStateException("this Subscriptions is not attached: add it with layer(…) to a client's options")

    public companion object {
        /** For Java: a [Subscriptions] with [confirmTimeout]; see [Subscriptions]. */
        @JvmStatic
        public fun <Key : Any> create(
            codec: SubscriptionCodec<Key>,
            confirmTimeout: java.time.Duration,
        ): Subscriptions<Key> = Subscriptions(codec, confirmTimeout.toKotlinDuration())
    }
}
