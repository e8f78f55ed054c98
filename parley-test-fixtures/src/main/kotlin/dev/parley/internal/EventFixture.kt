package dev.parley.internal

import dev.parley.ParleyEvent
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.milliseconds

/*
 * For EventBenchmark in parley-jmh: a client's Telemetry on its own, so that emitting an event can be timed with and
 * without a collector, apart from the rest of the send path.
 */

/** A client's event stream, with an optional collector on Dispatchers.Default that counts what it receives. */
class EventFixture {
    private val telemetry = Telemetry(sendQueueCapacity = 1024, clock = Clock.SYSTEM, log = ClientLog("bench"))
    private val family = AtomicInteger()
    private val wait = 5.milliseconds
    private var collector: CoroutineScope? = null
    private val received = AtomicLong()

    /** Subscribes one collector before returning. */
    fun startCollector() {
        val scope = CoroutineScope(Job() + Dispatchers.Default)
        scope.launch(start = CoroutineStart.UNDISPATCHED) { telemetry.events.collect { received.incrementAndGet() } }
        collector = scope
    }

    /** Events the collector has received so far. */
    fun received(): Long = received.get()

    /** A lifecycle event: always built and emitted. */
    fun emitLifecycle() = telemetry.emit(ParleyEvent.HeartbeatAnswered(wait))

    /**
     * A send gate event, as ClientHandle emits one: built only while someone collects. The cap is reset first, so
     * that every call is below it and the cost measured is the event's, not the cap's.
     */
    fun emitGateEvent() {
        family.set(0)
        telemetry.emitIfObserved(family) { ParleyEvent.SendDelayed(wait) }
    }

    fun stop() {
        collector?.cancel()
        collector = null
    }
}
