package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.CloseCodes
import dev.parley.ConnectionClosedException
import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.GateDecision
import dev.parley.NotConnectedException
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyException
import dev.parley.ParleyMetrics
import dev.parley.ParleyOptions
import dev.parley.RateLimitedException
import dev.parley.SendGate
import dev.parley.SendOverflow
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.StopReason
import dev.parley.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.ClosedSendChannelException
import kotlinx.coroutines.channels.SendChannel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.isActive
import kotlin.time.Duration

/**
 * What callers (any thread) and the connection loop (one coroutine) share: the send queue and mailbox into the loop,
 * the published state, and the telemetry. Only the loop writes the `var`s.
 */
internal class ClientShared(
    val options: ParleyOptions,
    val telemetry: Telemetry,
    val log: ClientLog,
) {
    /** Where the loop runs (one thread at a time); layers run their timers there too. Set once, as the client starts. */
    @Volatile
    var dispatcher: CoroutineDispatcher = Dispatchers.Default

    /** Starts as Connecting: a client connects as soon as it starts, so frames sent right away are queued. */
    val state = MutableStateFlow<ConnectionState>(ConnectionState.Connecting(0))

    @Volatile
    var stopReason: StopReason? = null

    @Volatile
    var lastReason: DisconnectReason? = null

    /** Reconnect attempts in a row since the last stable connection, as the loop counts them. */
    @Volatile
    var reconnectAttempts: Int = 0

    /** The number of the attempt running or about to start (the first is 1); see [Command.Connect.joinAttempt]. */
    @Volatile
    var currentAttempt: Long = 1

    /**
     * The control queue of the connection whose onConnect is running, else `null`. A send() made inside onConnect
     * goes there, like a push: user frames are held back until onConnect returns, so waiting for one there would
     * wait forever.
     */
    @Volatile
    var onConnectControl: SendChannel<Outbound>? = null

    val sendQueue = SendQueue(options.sendQueueCapacity, telemetry) { undelivered() }

    private fun undelivered(): ParleyException = stopReason?.let { ClientStoppedException(it) } ?: closedBy(lastReason)

    val mailbox = Mailbox(options.sendQueueCapacity)

    /** [frame] as it goes on the wire: a data frame prepared by [ParleyOptions.prepareFrame] first, once. */
    fun wire(frame: Frame): WireFrame {
        val preparer = options.prepareFrame
        if (preparer == null || (frame !is Frame.Text && frame !is Frame.Binary)) return frame.toWire()
        val prepared = preparer.prepare(frame)
        check(prepared is Frame.Text || prepared is Frame.Binary) {
            "prepareFrame must return a Text or a Binary frame, not ${prepared::class.simpleName}"
        }
        return prepared.toWire()
    }
}

/** The thread-safe face of a client: it validates, enqueues and waits; the loop does the rest. */
internal class ClientHandle(
    internal val shared: ClientShared,
    private val loop: Job,
) : ParleyClient {
    private val options = shared.options
    private val telemetry = shared.telemetry

    override val name: String get() = options.name
    override val state: StateFlow<ConnectionState> = shared.state.asStateFlow()
    override val events: Flow<ParleyEvent> = telemetry.events

    override fun metrics(): ParleyMetrics =
        telemetry.snapshot(shared.state.value, shared.reconnectAttempts, shared.lastReason)

    override suspend fun send(frame: Frame) {
        // Checked here, not in admit: a call to a suspending function costs an allocation, on every send.
        val refund = if (options.sendGate == null) null else admit(frame)
        val out = refundingIfThrows(refund) { Outbound(shared.wire(frame), CompletableDeferred(), telemetry) }
        enqueueAdmitted(out, refund)
        out.written!!.await()
    }

    override suspend fun enqueue(frame: Frame): Deferred<Unit> {
        val refund = if (options.sendGate == null) null else admit(frame)
        // Its sender does not wait for the write, so a failure is also counted and reported, as for trySend.
        val out = refundingIfThrows(refund) {
            Outbound(shared.wire(frame), CompletableDeferred(), telemetry, detached = true)
        }
        enqueueAdmitted(out, refund)
        return out.written!!
    }

    /** Runs [block] (which prepares the frame: prepareFrame may throw), giving the gate cost back if it throws. */
    private inline fun <T> refundingIfThrows(noinline refund: (() -> Unit)?, block: () -> T): T = try {
        block()
    } catch (e: Throwable) {
        refund?.invoke()
        throw e
    }

    /**
     * Passes a data frame through the send gate, if there is one, waiting for its turn when the gate says so: returns
     * what gives the frame's cost back, should it then not be written. A caller cancelled while it waits gets its
     * cost back at once.
     */
    private suspend fun admit(frame: Frame): (() -> Unit)? {
        val gate = gateFor(frame) ?: return null
        // A frame that cannot be sent anyway does not wait for its turn first.
        rejection()?.let { throw it }
        val wait = reserve(gate, frame, mayWait = true)
        if (wait.isPositive()) {
            telemetry.sendsDelayed.incrementAndGet()
            telemetry.emitIfObserved(telemetry.gateEvents) { ParleyEvent.SendDelayed(wait) }
            try {
                delay(wait)
            } catch (e: CancellationException) {
                gate.refund(frame)
                throw e
            }
        }
        return { gate.refund(frame) }
    }

    /** [admit] for [trySend], which never waits: anything but an immediate pass is a refusal. */
    private fun admitNow(frame: Frame): (() -> Unit)? {
        val gate = gateFor(frame) ?: return null
        val wait = reserve(gate, frame, mayWait = false)
        if (wait.isPositive()) {
            gate.refund(frame)
            telemetry.sendsRateLimited.incrementAndGet()
            telemetry.emitIfObserved(telemetry.gateEvents) { ParleyEvent.SendRateLimited(wait) }
            throw RateLimitedException(wait.inWholeMilliseconds)
        }
        return { gate.refund(frame) }
    }

    /** The send gate, for the frames it sees: data frames. */
    private fun gateFor(frame: Frame): SendGate? =
        options.sendGate?.takeIf { frame is Frame.Text || frame is Frame.Binary }

    /** How long [frame] must wait for its turn, its cost taken; a refusal is thrown as RateLimitedException. */
    private fun reserve(gate: SendGate, frame: Frame, mayWait: Boolean): Duration =
        when (val decision = gate.reserve(frame, mayWait)) {
            is GateDecision.Refuse -> {
                telemetry.sendsRateLimited.incrementAndGet()
                telemetry.emitIfObserved(telemetry.gateEvents) { ParleyEvent.SendRateLimited(decision.retryAfter) }
                throw RateLimitedException(decision.retryAfter.inWholeMilliseconds)
            }

            is GateDecision.Pass -> decision.after
        }

    /** Queues [out]; its gate cost is given back if it fails to queue, or fails later without having been written. */
    private suspend fun enqueueAdmitted(out: Outbound, refund: (() -> Unit)?) {
        try {
            enqueue(out)
        } catch (e: Throwable) {
            refund?.invoke()
            throw e
        }
        if (refund != null) refundUnlessWritten(out.written!!, refund)
    }

    /** Queues [out] in order, waiting only for room; every way out of here leaves it settled or queued. */
    private suspend fun enqueue(out: Outbound) {
        val caller = shared.caller()
        check(caller != Caller.BLOCKED_LOOP) { BLOCKED_LOOP_RULE }
        rejection()?.let { throw it }
        // Counted before it can be taken from the queue; every way out settles it exactly once (see Outbound).
        telemetry.queueDepth.incrementAndGet()
        val control = shared.onConnectControl.takeIf { caller == Caller.CALLBACK }
        try {
            when {
                control != null -> control.send(out)
                shared.sendQueue.offer(out, shared.stopReason) -> Unit
                options.sendOverflow == SendOverflow.FAIL -> throw SendQueueFullException(options.sendQueueCapacity)
                else -> shared.sendQueue.send(out)
            }
        } catch (e: CancellationException) {
            // Either the caller was cancelled while waiting for room (the frame never entered the queue), or the
            // queue was cancelled because the client stopped: then the caller, still active, is told so.
            val refusal = if (currentCoroutineContext().isActive) ClientStoppedException(shared.stopReason) else e
            out.withdraw(refusal)
            throw refusal
        } catch (e: ClosedSendChannelException) {
            throw ClientStoppedException(shared.stopReason).also { out.withdraw(it) }
        } catch (e: ParleyException) {
            out.withdraw(e)
            throw e
        }
    }

    override fun trySend(frame: Frame): SendResult {
        rejection()?.let { return SendResult.Rejected(it) }
        val refund = try {
            admitNow(frame)
        } catch (e: RateLimitedException) {
            return SendResult.Rejected(e)
        }
        val out = refundingIfThrows(refund) {
            Outbound(shared.wire(frame), CompletableDeferred(), telemetry, detached = true)
        }
        telemetry.queueDepth.incrementAndGet()
        val refusal =
            try {
                if (shared.sendQueue.offer(out, shared.stopReason)) {
                    if (refund != null) refundUnlessWritten(out.written!!, refund)
                    return SendResult.Enqueued(out.written!!)
                }
                SendQueueFullException(options.sendQueueCapacity)
            } catch (e: ClientStoppedException) {
                e
            }
        out.withdraw(refusal)
        refund?.invoke()
        return SendResult.Rejected(refusal)
    }

    private fun rejection(): ParleyException? = when (val s = shared.state.value) {
        is ConnectionState.Disconnected -> NotConnectedException()
        is ConnectionState.Stopped -> ClientStoppedException(s.reason)
        is ConnectionState.Connecting, is ConnectionState.Connected -> null
    }

    override suspend fun connect() {
        val caller = shared.caller()
        check(caller != Caller.BLOCKED_LOOP) { BLOCKED_LOOP_RULE }
        (shared.state.value as? ConnectionState.Stopped)?.let { throw ClientStoppedException(it.reason) }
        val reply = CompletableDeferred<Unit>()
        val joinAttempt = shared.currentAttempt.takeIf { shared.state.value is ConnectionState.Connecting }
        if (request(Command.Connect(reply, joinAttempt), caller)) reply.await()
    }

    override suspend fun disconnect(code: Int, reason: String) {
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        require(reason.toByteArray(Charsets.UTF_8).size <= MAX_CLOSE_REASON) {
            "close reason must be at most $MAX_CLOSE_REASON bytes in UTF-8"
        }
        val caller = shared.caller()
        check(caller != Caller.BLOCKED_LOOP) { BLOCKED_LOOP_RULE }
        if (shared.state.value is ConnectionState.Stopped) return
        val reply = CompletableDeferred<Unit>()
        val close = PendingClose(code, reason, byHandler = false, handlerReason = null)
        try {
            if (request(Command.Disconnect(close, reply), caller)) reply.await()
        } catch (e: ClientStoppedException) {
            // Stopped is as disconnected as it gets.
        }
    }

    /**
     * Hands [command] to the loop. From a callback it cannot wait (the loop is busy calling it): it is queued and
     * `false` is returned, so the caller returns at once. Otherwise it waits for room and returns `true`.
     */
    private suspend fun request(command: Command, caller: Caller): Boolean {
        if (caller == Caller.CALLBACK) {
            check(shared.mailbox.tryRequest(command) || shared.state.value is ConnectionState.Stopped) {
                "too many connect/disconnect requests from inside callbacks at once"
            }
            return false
        }
        try {
            shared.mailbox.request(command)
        } catch (e: ClosedSendChannelException) {
            throw ClientStoppedException(shared.stopReason)
        } catch (e: CancellationException) {
            // As in enqueue: the caller's own cancellation goes on; a mailbox cancelled by the stop is reported so.
            throw if (currentCoroutineContext().isActive) ClientStoppedException(shared.stopReason) else e
        }
        return true
    }

    override suspend fun stop() = stop(abort = false)

    override suspend fun cancel() = stop(abort = true)

    private suspend fun stop(abort: Boolean) {
        shared.mailbox.requestStop(abort)
        // From a callback the loop stops once the callback returns; it cannot be waited for from inside.
        if (shared.caller() == Caller.OUTSIDE) loop.join()
    }

    override fun tell(message: Any): Boolean = shared.mailbox.tell(message)

    /** Gives [written]'s gate cost back if it fails before the frame could have reached the peer. */
    private fun refundUnlessWritten(written: Deferred<Unit>, refund: () -> Unit) {
        written.invokeOnCompletion { cause ->
            if (cause != null && !(cause is ConnectionClosedException && cause.mayHaveBeenWritten)) refund()
        }
    }

    private companion object {
        const val MAX_CLOSE_REASON = 123
    }
}
