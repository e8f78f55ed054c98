package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.CloseCodes
import dev.parley.ConnectFailedException
import dev.parley.ConnectionClosedException
import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.NotConnectedException
import dev.parley.ParleyClient
import dev.parley.ParleyException
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.RetriesExhaustedException
import dev.parley.SendOverflow
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.StopReason
import dev.parley.internal.transport.HandshakeRejectedException
import dev.parley.internal.transport.KtorTransport
import dev.parley.internal.transport.Opcode
import dev.parley.internal.transport.OpenRequest
import dev.parley.internal.transport.Transport
import dev.parley.internal.transport.TransportProtocolException
import dev.parley.internal.transport.TransportSession
import dev.parley.internal.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancelChildren
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ClosedSendChannelException
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import kotlinx.coroutines.withTimeoutOrNull
import org.slf4j.LoggerFactory
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds

/**
 * The one coroutine that owns a client's connection: it runs the [transition] table, executes its effects, calls the
 * handler one callback at a time, and publishes [state]. Everything mutable below is touched only by that coroutine,
 * except the channels, which are how other threads talk to it.
 */
internal class ConnectionLoop<S> private constructor(
    private val handler: ParleyHandler<S>,
    private var userState: S,
    private val options: ParleyOptions,
    private val transport: Transport,
    private val random: Random,
) : ParleyClient {
    override val name: String get() = options.name
    private val log = LoggerFactory.getLogger("dev.parley.Parley.${options.name}")

    /** Starts as Connecting: a client connects as soon as it starts, so frames sent right away are queued. */
    private val mutableState = MutableStateFlow<ConnectionState>(ConnectionState.Connecting(0))
    override val state: StateFlow<ConnectionState> = mutableState.asStateFlow()

    /** User frames, bounded. Whatever is left in it when the client stops is failed by onUndeliveredElement. */
    private val sendQueue =
        Channel<Outbound>(options.sendQueueCapacity) { it.fail(ClientStoppedException(stopReason), log) }

    /** Commands and tell() messages from callers, bounded like the send queue. */
    private val mailbox = Channel<Command>(options.sendQueueCapacity)

    /**
     * Facts from the loop's helpers (attempt, reader, writer, timers). Each helper sends a handful at most and then
     * ends or waits on the loop, so the capacity only decides how far a reader may run ahead of the handler.
     */
    private val events = Channel<Tagged>(EVENT_CAPACITY)

    private var phase: Phase = Phase.Disconnected(0, retryScheduled = false)
    private var lastReason: DisconnectReason? = null
    private var nextAttemptIn: kotlin.time.Duration? = null
    private var stopReason: StopReason? = null

    /** Bumped whenever a connection or attempt ends, so late events from its helpers are recognised and dropped. */
    private var generation = 0L

    /** The running connection attempt, or `null`. */
    private var attempt: Job? = null

    /** The open connection and its helpers, or `null` outside Connected and Closing. */
    private var session: TransportSession? = null
    private var sessionJob: Job? = null
    private var writer: FrameWriter? = null
    private var control: Channel<Outbound>? = null

    /** The timer of the current phase (retry, stable or close), or `null`. */
    private var timer: Job? = null

    private val connectWaiters = mutableListOf<CompletableDeferred<Unit>>()
    private val disconnectWaiters = mutableListOf<CompletableDeferred<Unit>>()

    /** The loop's own scope: helpers (attempt, session, timers) are its children and die with it. */
    private lateinit var loopScope: CoroutineScope

    /** A close frame was queued in the step being executed, so releasing the socket waits briefly for it. */
    private var closeToFlush = false

    /** A connect() that arrived during the close handshake, to be honoured once it ends. */
    private var connectAfterClose = false
    private lateinit var job: Job

    // ---- public API (any thread) ----

    override suspend fun send(frame: Frame) {
        val out = Outbound(frame.toWire(), CompletableDeferred())
        rejection()?.let { throw it }
        if (options.sendOverflow == SendOverflow.FAIL) {
            val result = sendQueue.trySend(out)
            if (result.isClosed) throw ClientStoppedException(stopReason)
            if (result.isFailure) throw SendQueueFullException(options.sendQueueCapacity)
        } else {
            try {
                sendQueue.send(out)
            } catch (e: ClosedSendChannelException) {
                throw ClientStoppedException(stopReason)
            }
        }
        out.written!!.await()
    }

    override fun trySend(frame: Frame): SendResult {
        rejection()?.let { return SendResult.Rejected(it) }
        val out = Outbound(frame.toWire(), CompletableDeferred(), detached = true)
        val result = sendQueue.trySend(out)
        return when {
            result.isSuccess -> SendResult.Enqueued(out.written!!)
            result.isClosed -> SendResult.Rejected(ClientStoppedException(stopReason))
            else -> SendResult.Rejected(SendQueueFullException(options.sendQueueCapacity))
        }
    }

    private fun rejection(): ParleyException? = when (val s = mutableState.value) {
        is ConnectionState.Disconnected -> NotConnectedException()
        is ConnectionState.Stopped -> ClientStoppedException(s.reason)
        else -> null
    }

    override suspend fun connect() {
        val reply = CompletableDeferred<Unit>()
        command(Command.Connect(reply))
        reply.await()
    }

    override suspend fun disconnect(code: Int, reason: String) {
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        require(reason.toByteArray(Charsets.UTF_8).size <= MAX_CLOSE_REASON) {
            "close reason must be at most $MAX_CLOSE_REASON bytes in UTF-8"
        }
        if (mutableState.value is ConnectionState.Stopped) return
        val reply = CompletableDeferred<Unit>()
        try {
            mailbox.send(Command.Disconnect(PendingClose(code, reason, byHandler = false, handlerReason = null), reply))
        } catch (e: ClosedSendChannelException) {
            return
        }
        reply.await()
    }

    override suspend fun stop() {
        try {
            mailbox.send(Command.Stop)
        } catch (e: ClosedSendChannelException) {
            // Already stopping or stopped.
        }
        job.join()
    }

    override fun tell(message: Any): Boolean = mailbox.trySend(Command.Info(message)).isSuccess

    private suspend fun command(command: Command.Connect) {
        try {
            mailbox.send(command)
        } catch (e: ClosedSendChannelException) {
            throw ClientStoppedException(stopReason)
        }
    }

    // ---- the loop (owner coroutine only) ----

    private suspend fun run() {
        var failure: Throwable? = null
        try {
            coroutineScope {
                loopScope = this
                if (initialise()) {
                    fire(Event.ConnectRequested)
                    while (phase !is Phase.Stopped) receiveOne()
                }
                coroutineContext.cancelChildren()
            }
        } catch (e: CancellationException) {
            if (phase !is Phase.Stopped) phase = Phase.Stopped(StopReason.Cancelled(e)).also { stopReason = it.reason }
            throw e
        } finally {
            failure = terminate()
        }
        failure?.let { throw it }
    }

    private suspend fun initialise(): Boolean {
        val result = callHandler { handler.init(userState) } ?: return false
        when (result) {
            is InitResult.Init -> userState = result.state
            is InitResult.Stop -> fire(Event.StopRequested(StopReason.ByHandler(result.reason)))
        }
        return phase !is Phase.Stopped
    }

    private suspend fun receiveOne() {
        val draining = phase is Phase.Disconnected || phase is Phase.Closing
        select {
            events.onReceive { tagged -> if (tagged.generation == generation) onEvent(tagged.event) }
            mailbox.onReceive { onCommand(it) }
            // Nobody writes while down or closing, so frames queued then are answered here rather than left waiting.
            if (draining) {
                sendQueue.onReceive {
                    it.fail(
                        if (phase is Phase.Closing) ConnectionClosedException(null) else NotConnectedException(),
                        log,
                    )
                }
            }
        }
    }

    private suspend fun onCommand(command: Command) {
        when (command) {
            is Command.Info -> onHandlerAction { handler.onInfo(command.message, userState) }

            is Command.Connect ->
                when (phase) {
                    is Phase.Connected -> command.reply.complete(Unit)

                    is Phase.Closing -> {
                        connectAfterClose = true
                        connectWaiters += command.reply
                    }

                    else -> {
                        connectWaiters += command.reply
                        fire(Event.ConnectRequested)
                    }
                }

            is Command.Disconnect -> {
                if (phase is Phase.Connected || phase is Phase.Closing) {
                    disconnectWaiters += command.reply
                } else {
                    command.reply.complete(Unit)
                }
                connectAfterClose = false
                fire(Event.CloseRequested(command.close))
            }

            Command.Stop -> fire(Event.StopRequested(StopReason.Requested))
        }
    }

    private suspend fun onEvent(event: Event) {
        when (event) {
            is InboundEvent -> onInbound(event.inbound)
            is Opened -> opened(event.session)
            else -> fire(event)
        }
    }

    private suspend fun onInbound(inbound: Inbound) {
        when (inbound) {
            is Inbound.Message -> if (phase is Phase.Connected) {
                onHandlerAction {
                    handler.onFrame(inbound.frame, userState)
                }
            }

            is Inbound.Pong -> if (phase is Phase.Connected) {
                onHandlerAction {
                    handler.onFrame(Frame.Pong(inbound.payload), userState)
                }
            }

            is Inbound.Ping ->
                if (phase is Phase.Connected) {
                    // RFC 6455 §5.5.2: answer before anything else; a full control queue may drop a pong (only the
                    // latest ping needs one), never block the loop.
                    control?.trySend(Outbound(WireFrame(Opcode.PONG, inbound.payload), null))
                    onHandlerAction { handler.onPing(inbound.payload, userState) }
                }

            is Inbound.Close -> fire(Event.PeerClosed(inbound.code, inbound.reason))

            is Inbound.Violation -> {
                log.warn("closing with {}: {}", inbound.closeCode, inbound.reason)
                fire(Event.Violated(inbound.reason, inbound.closeCode))
            }
        }
    }

    private suspend fun fire(event: Event) {
        val step = transition(phase, event, options.reconnect)
        if (step == null) {
            log.debug("{} ignored in {}", event, phase)
            return
        }
        val previous = phase
        phase = step.next
        val retryCancelled = (phase as? Phase.Disconnected)?.retryScheduled == false
        if (previous::class != phase::class || retryCancelled) {
            timer?.cancel()
            timer = null
            nextAttemptIn = null
        }
        log.debug("{} + {} -> {}", previous, event, phase)
        // Publish Disconnected once, with the reason the handler is about to hear.
        step.effects.firstNotNullOfOrNull { it as? Effect.CallOnDisconnect }?.let { lastReason = it.reason }
        // A scheduled retry publishes itself, with its delay.
        if (step.effects.none { it is Effect.ScheduleRetry }) publish()
        for (effect in step.effects) run(effect)
        closeToFlush = false
    }

    private suspend fun run(effect: Effect) {
        when (effect) {
            Effect.OpenTransport -> openTransport()

            Effect.CancelAttempt -> {
                generation++
                attempt?.cancel()
                attempt = null
            }

            Effect.CallOnConnect -> callOnConnect()

            is Effect.CallOnDisconnect -> callOnDisconnect(effect)

            is Effect.SendClose -> {
                val payload = closePayload(effect.code, effect.reason)
                closeToFlush = control?.trySend(Outbound(WireFrame(Opcode.CLOSE, payload), null))?.isSuccess == true
            }

            Effect.ReleaseTransport -> releaseTransport()

            Effect.StartCloseTimer -> startTimer(options.closeTimeout, Event.CloseTimedOut)

            Effect.StartStableTimer -> options.reconnect?.let { startTimer(it.stableAfter, Event.Stable) }

            is Effect.ScheduleRetry -> {
                val policy = options.reconnect ?: dev.parley.ReconnectPolicy.DEFAULT
                val delay = backoffDelay(policy, effect.attempt, random)
                nextAttemptIn = delay
                log.info("reconnecting in {} (attempt {})", delay, effect.attempt + 1)
                startTimer(delay, Event.RetryDue)
                publish()
            }

            is Effect.FailQueued -> failQueued(effect.reason)

            is Effect.Terminate -> stopReason = effect.reason
        }
    }

    private fun startTimer(after: kotlin.time.Duration, event: Event) {
        timer?.cancel()
        val tag = Tagged(generation, event)
        timer =
            loopScope.launch {
                delay(after)
                events.send(tag)
            }
    }

    private fun openTransport() {
        generation++
        val tag = generation
        val request = OpenRequest(options.uri, options.headers, options.subprotocols, options.maxFrameSize)
        log.info("connecting to {}", options.uri)
        attempt =
            loopScope.launch {
                val outcome: Any =
                    try {
                        withTimeoutOrNull(options.connectTimeout) { transport.open(request) }
                            ?: DisconnectReason.ConnectTimedOut(options.connectTimeout)
                    } catch (e: CancellationException) {
                        throw e
                    } catch (e: HandshakeRejectedException) {
                        DisconnectReason.HandshakeRejected(e.status, redact(e.headers), e.message ?: "")
                    } catch (e: Throwable) {
                        if (e.isConnectTimeout()) {
                            DisconnectReason.ConnectTimedOut(options.connectTimeout)
                        } else {
                            DisconnectReason.ConnectFailed(e)
                        }
                    }
                try {
                    events.send(
                        Tagged(
                            tag,
                            if (outcome is TransportSession) {
                                Opened(
                                    outcome,
                                )
                            } else {
                                Event.AttemptFailed(outcome as DisconnectReason)
                            },
                        ),
                    )
                } catch (e: Throwable) {
                    (outcome as? TransportSession)?.abort()
                    throw e
                }
            }
    }

    private suspend fun opened(s: TransportSession) {
        if (phase !is Phase.Connecting) {
            s.abort()
            return
        }
        attempt = null
        val controlChannel = Channel<Outbound>(options.sendQueueCapacity)
        val job = Job(loopScope.coroutineContext[Job])
        val sessionScope = CoroutineScope(loopScope.coroutineContext + job)
        val tag = generation
        val w =
            FrameWriter(s, controlChannel, sendQueue, log) { cause ->
                events.send(Tagged(tag, Event.TransportLost(DisconnectReason.TransportFailed(cause))))
            }
        session = s
        sessionJob = job
        control = controlChannel
        writer = w
        w.start(sessionScope)
        sessionScope.launch { readFrames(s, tag) }
        log.info("connected to {} (subprotocol {})", options.uri, s.subprotocol)
        fire(Event.Upgraded)
    }

    /** The session's reader: reassembles and validates frames, then hands them to the loop one at a time. */
    private suspend fun readFrames(s: TransportSession, tag: Long) {
        val assembler = MessageAssembler(options.maxFrameSize)
        while (true) {
            val event: Event =
                try {
                    val frame = s.receive() ?: break
                    val inbound = assembler.accept(frame) ?: continue
                    events.send(Tagged(tag, InboundEvent(inbound)))
                    if (inbound is Inbound.Close || inbound is Inbound.Violation) return
                    continue
                } catch (e: CancellationException) {
                    throw e
                } catch (e: TransportProtocolException) {
                    val reason =
                        if (e.closeCode == CloseCodes.MESSAGE_TOO_BIG) {
                            DisconnectReason.MessageTooBig(options.maxFrameSize)
                        } else {
                            DisconnectReason.ProtocolViolation(e.closeCode, e.message ?: "protocol violation")
                        }
                    log.warn("closing with {}: {}", e.closeCode, reason)
                    // A transport that already sent its close frame must not be made to send a second one.
                    if (e.closeSent) Event.TransportLost(reason) else Event.Violated(reason, e.closeCode)
                } catch (e: Throwable) {
                    Event.TransportLost(DisconnectReason.TransportFailed(e))
                }
            events.send(Tagged(tag, event))
            return
        }
        val eof = java.io.EOFException("the peer closed the connection without a close frame")
        events.send(Tagged(tag, Event.TransportLost(DisconnectReason.TransportFailed(eof))))
    }

    private suspend fun callOnConnect() {
        val s = session ?: return
        mutableState.value = ConnectionState.Connected(s.subprotocol, redact(s.responseHeaders))
        onHandlerAction { handler.onConnect(userState) }
        if (phase is Phase.Connected) {
            writer?.openForUserFrames()
            connectWaiters.forEach { it.complete(Unit) }
            connectWaiters.clear()
        }
    }

    private suspend fun callOnDisconnect(effect: Effect.CallOnDisconnect) {
        log.info("disconnected: {}", effect.reason)
        val failed = ConnectFailedException(effect.reason)
        connectWaiters.forEach { it.completeExceptionally(failed) }
        connectWaiters.clear()
        disconnectWaiters.forEach { it.complete(Unit) }
        disconnectWaiters.clear()
        val decision = callHandler { handler.onDisconnect(effect.reason, userState) } ?: return
        userState = decision.state
        val kind =
            when (decision) {
                is DisconnectDecision.Default -> Decision.DEFAULT
                is DisconnectDecision.Reconnect -> Decision.RECONNECT
                is DisconnectDecision.StayDisconnected -> Decision.STAY
            }
        fire(Event.Decided(kind, effect.userClosed, effect.reason))
        if (connectAfterClose && phase is Phase.Disconnected) {
            connectAfterClose = false
            fire(Event.ConnectRequested)
        }
    }

    /** Runs a handler callback that returns an action, and applies the action. */
    private suspend fun onHandlerAction(callback: suspend () -> HandlerAction<S>) {
        val action = callHandler(callback) ?: return
        userState = action.state
        when (action) {
            is HandlerAction.Ok -> Unit

            is HandlerAction.Push -> {
                val c = control
                if (phase is Phase.Connected && c != null) {
                    for (frame in action.frames) c.send(Outbound(frame.toWire(), null))
                } else {
                    log.warn("push of {} frame(s) dropped: not connected ({})", action.frames.size, mutableState.value)
                }
            }

            is HandlerAction.Disconnect ->
                fire(
                    Event.CloseRequested(
                        PendingClose(action.closeCode, "", byHandler = true, handlerReason = action.reason),
                    ),
                )

            is HandlerAction.Stop -> fire(Event.StopRequested(StopReason.ByHandler(action.reason)))
        }
    }

    /** Calls the handler; a throw stops the client with [StopReason.HandlerFailed] and yields `null`. */
    private suspend fun <T> callHandler(callback: suspend () -> T): T? = try {
        callback()
    } catch (e: CancellationException) {
        throw e
    } catch (e: Throwable) {
        log.error("handler failed; stopping", e)
        fire(Event.StopRequested(StopReason.HandlerFailed(e)))
        null
    }

    private suspend fun releaseTransport() {
        val s = session ?: return
        // A close frame handed to the writer in this same step (a close reply, a violation's close, the close before
        // stopping) gets a moment to be flushed, and then a moment to leave the machine; a dead peer gets no more.
        val w = writer
        val stuck =
            closeToFlush && w != null &&
                (withTimeoutOrNull(CLOSE_FLUSH_GRACE_MS) { w.closeWritten.join() } == null || w.closeWritten.isCancelled)
        generation++
        // Lingering costs the loop nothing, and also covers a close frame the transport sent on its own.
        if (stuck) s.abort() else s.release(CLOSE_LINGER)
        sessionJob?.cancel()
        control?.close()
        session = null
        sessionJob = null
        writer = null
        control = null
    }

    private fun failQueued(reason: DisconnectReason?) {
        val cause = ConnectionClosedException(reason, (reason as? DisconnectReason.TransportFailed)?.cause)
        // While closing (reason null) the frames already being written go out before our close frame.
        if (reason != null) writer?.failInFlight(cause)
        while (true) {
            val out = sendQueue.tryReceive().getOrNull() ?: break
            out.fail(cause, log)
        }
    }

    private fun publish() {
        mutableState.value =
            when (val p = phase) {
                is Phase.Disconnected -> ConnectionState.Disconnected(lastReason, nextAttemptIn, p.failures)

                is Phase.Connecting -> ConnectionState.Connecting(p.failures)

                // Connected is published by callOnConnect, which knows the session; Closing keeps it.
                is Phase.Connected, is Phase.Closing -> mutableState.value.takeIf { it is ConnectionState.Connected }
                    ?: return

                is Phase.Stopped -> ConnectionState.Stopped(p.reason)
            }
    }

    /** Releases everything, publishes Stopped, and returns the failure a linked scope must see, if any. */
    private fun terminate(): Throwable? {
        val reason = stopReason ?: (phase as? Phase.Stopped)?.reason ?: StopReason.Cancelled(null)
        stopReason = reason
        generation++
        attempt?.cancel()
        timer?.cancel()
        session?.abort()
        sessionJob?.cancel()
        control?.close()
        mailbox.close()
        sendQueue.cancel()
        events.cancel()
        transport.close()
        val stopped = ClientStoppedException(reason)
        connectWaiters.forEach { it.completeExceptionally(stopped) }
        disconnectWaiters.forEach { it.complete(Unit) }
        mutableState.value = ConnectionState.Stopped(reason)
        log.info("stopped: {}", reason)
        return when (reason) {
            is StopReason.HandlerFailed -> reason.cause
            is StopReason.RetriesExhausted -> RetriesExhaustedException(reason.attempts, reason.last)
            else -> null
        }
    }

    private fun redact(headers: Map<String, List<String>>): Map<String, List<String>> =
        headers.mapValues { (k, v) -> if (k.lowercase() in options.sensitiveHeaders) v.map { "██" } else v }

    internal companion object {
        private const val EVENT_CAPACITY = 16
        private const val MAX_CLOSE_REASON = 123
        private const val CLOSE_FLUSH_GRACE_MS = 1000L

        /** How long a flushed close frame is given to leave the machine before its socket is closed. */
        private val CLOSE_LINGER = 100.milliseconds

        fun <S> start(
            parent: CoroutineScope?,
            handler: ParleyHandler<S>,
            initialState: S,
            options: ParleyOptions,
            transport: Transport = KtorTransport(options),
            dispatcher: CoroutineDispatcher = Dispatchers.Default,
            random: Random = Random.Default,
        ): ConnectionLoop<S> {
            val loop = ConnectionLoop(handler, initialState, options, transport, random)
            val context = dispatcher + CoroutineName(options.name)
            val scope =
                parent ?: CoroutineScope(
                    SupervisorJob() +
                        CoroutineExceptionHandler { _, e -> loop.log.debug("standalone client failed", e) },
                )
            loop.job = scope.launch(context) { loop.run() }
            return loop
        }
    }
}

private sealed class Command {
    class Connect(
        val reply: CompletableDeferred<Unit>,
    ) : Command()

    class Disconnect(
        val close: PendingClose,
        val reply: CompletableDeferred<Unit>,
    ) : Command()

    object Stop : Command()

    class Info(
        val message: Any,
    ) : Command()
}

/** An event from a helper, tagged with the generation of the connection or attempt it belongs to. */
internal class Tagged(
    val generation: Long,
    val event: Event,
)

/** Inbound traffic and an opened session travel as events too, but never reach the table directly. */
internal class InboundEvent(
    val inbound: Inbound,
) : Event()

internal class Opened(
    val session: TransportSession,
) : Event()

private fun closePayload(code: Int, reason: String): ByteArray {
    if (code == CloseCodes.NO_STATUS) return ByteArray(0)
    val text = reason.toByteArray(Charsets.UTF_8)
    return ByteArray(2 + text.size).also {
        it[0] = (code shr 8).toByte()
        it[1] = code.toByte()
        text.copyInto(it, 2)
    }
}

private fun Throwable.isConnectTimeout(): Boolean = generateSequence(this) { it.cause }.any {
    it is java.net.SocketTimeoutException || it.javaClass.simpleName.contains("ConnectTimeout")
}
