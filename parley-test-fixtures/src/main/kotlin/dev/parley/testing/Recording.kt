package dev.parley.testing

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** Default bound of every `await…` helper of the test servers: long enough for a loaded CI machine, still bounded. */
val DEFAULT_AWAIT: Duration = 5.seconds

/**
 * A thread-safe, append-only list of facts a test server observed, with suspend helpers to wait for them.
 *
 * Why a list and not only a Channel: assertions often want both "the next one" (in arrival order, each consumed once)
 * and "everything so far" (a snapshot that does not consume). A [MutableStateFlow] gives both without locks, and
 * waiting on it is suspend-friendly, so no test needs to poll or sleep.
 */
class Recording<T>(private val what: String) {
    private val items = MutableStateFlow<List<T>>(emptyList())
    private val cursor = AtomicInteger(0)

    /** Snapshot of everything recorded so far. */
    val all: List<T> get() = items.value

    /** Number of items recorded so far. */
    val size: Int get() = items.value.size

    /** Appends [item]; called by the servers from any thread. */
    fun record(item: T) = items.update { it + item }

    /**
     * Returns the next item not yet returned by [awaitNext] (arrival order), waiting up to [timeout] for it.
     * Fails with an [AssertionError] naming what was expected when nothing arrives in time.
     */
    suspend fun awaitNext(timeout: Duration = DEFAULT_AWAIT): T {
        val index = cursor.getAndIncrement()
        val list = withTimeoutOrNull(timeout) { items.first { it.size > index } }
        if (list == null) {
            cursor.decrementAndGet()
            throw AssertionError("no $what #${index + 1} within $timeout; recorded so far: ${describe()}")
        }
        return list[index]
    }

    /** Waits until at least [count] items were recorded, up to [timeout]; returns the snapshot. */
    suspend fun awaitCount(count: Int, timeout: Duration = DEFAULT_AWAIT): List<T> =
        withTimeoutOrNull(timeout) { items.first { it.size >= count } }
            ?: throw AssertionError("expected $count $what within $timeout; recorded: ${describe()}")

    private fun describe(): String = all.map { if (it is ByteArray) it.decodeToString() else it }.toString()

    override fun toString(): String = "Recording($what: ${describe()})"
}
