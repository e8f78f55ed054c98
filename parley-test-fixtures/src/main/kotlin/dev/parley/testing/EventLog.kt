package dev.parley.testing

import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration

/**
 * What a client published on [ParleyClient.events], recorded from the moment [recordEvents] returned.
 *
 * [ParleyClient.events] is hot: a collector sees only what is emitted after it subscribed. [recordEvents] subscribes
 * before it returns (the collector starts undispatched, and a SharedFlow registers its collector before the first
 * suspension), so every event emitted after that call is recorded. Events emitted between `Parley.start` and that
 * call (typically the first Connecting) may be missed; a handler whose `init` waits for a gate closes that gap.
 */
class EventLog internal constructor(private val channel: Channel<ParleyEvent>) : AutoCloseable {
    internal lateinit var job: Job

    /** The next event, waiting up to [timeout]. */
    suspend fun next(timeout: Duration = DEFAULT_AWAIT): ParleyEvent =
        withTimeoutOrNull(timeout) { channel.receive() } ?: throw AssertionError("no client event within $timeout")

    /** The next event, which must be a [T]. */
    suspend inline fun <reified T : ParleyEvent> expect(timeout: Duration = DEFAULT_AWAIT): T {
        val event = next(timeout)
        return event as? T ?: throw AssertionError("expected ${T::class.simpleName} but the client published $event")
    }

    /** Events up to and including the first [T], waiting up to [timeout] in all. */
    suspend inline fun <reified T : ParleyEvent> until(timeout: Duration = DEFAULT_AWAIT): List<ParleyEvent> {
        val seen = mutableListOf<ParleyEvent>()
        return withTimeoutOrNull(timeout) {
            while (true) {
                val e = events.receive()
                seen += e
                if (e is T) break
            }
            seen
        } ?: throw AssertionError("no ${T::class.simpleName} event within $timeout; saw $seen")
    }

    /** Everything recorded and not yet consumed, without waiting. */
    fun drain(): List<ParleyEvent> = generateSequence { channel.tryReceive().getOrNull() }.toList()

    @PublishedApi
    internal val events: Channel<ParleyEvent> get() = channel

    /** Stops recording. */
    override fun close() {
        job.cancel()
    }
}

/** Subscribes to [client]'s events before returning; close the log (or cancel this scope) to stop. */
fun CoroutineScope.recordEvents(client: ParleyClient): EventLog {
    val channel = Channel<ParleyEvent>(Channel.UNLIMITED)
    val log = EventLog(channel)
    log.job = launch(start = CoroutineStart.UNDISPATCHED) { client.events.collect { channel.send(it) } }
    return log
}
