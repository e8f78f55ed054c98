@file:JvmName("TradingSample")

package dev.parley.samples.trading

import dev.parley.BearerToken
import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.OutboundBuffer
import dev.parley.Parley
import dev.parley.ParleyHandler
import dev.parley.ParleyPool
import dev.parley.PoolMember
import dev.parley.Recovery
import dev.parley.RecoveryPolicy
import dev.parley.Requests
import dev.parley.SubscriptionState
import dev.parley.Subscriptions
import dev.parley.UnmatchedReply
import dev.parley.jsonrpc.JsonRpc
import dev.parley.jsonrpc.call
import dev.parley.parleyOptions
import dev.parley.ratelimit.FrameCost
import dev.parley.ratelimit.TokenBucketGate
import dev.parley.startParley
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The trading sample against its own exchange on 127.0.0.1: `exec:exec@trading-sample` in README. */
public fun main(): Unit = runBlocking {
    ExchangeServer().start().use { exchange -> trade(exchange) { println(it) } }
}

/** What the conversation saw, for the sample's test. */
public data class TradingOutcome(
    val connections: Long,
    val tokensFetched: Int,
    val refusedUpgrades: Long,
    val tickerUpdates: Int,
    val ordersFilled: Int,
    val subscriptionsRestored: Long,
    val requestsAnswered: Long,
    val pooledRequests: Long,
)

/** Prints ticker updates and order updates as they come, and says why a connection ended. */
private class Trader(
    private val say: (String) -> Unit,
) : ParleyHandler<Unit> {
    /** The options' recovery policy: what the client will do, which may differ from the built-in verdict. */
    lateinit var recovery: RecoveryPolicy

    val tickers = AtomicInteger()
    val fills = Channel<String>(Channel.UNLIMITED)
    val filled = AtomicInteger()

    override suspend fun onConnect(state: Unit): HandlerAction<Unit> {
        say("connected")
        return HandlerAction.Ok(state)
    }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        val text = (frame as? Frame.Text)?.text ?: return HandlerAction.Ok(state)
        when {
            "\"subscription\"" in text -> if (tickers.incrementAndGet() <= 3) say("ticker: $text")

            "\"order_update\"" in text -> {
                filled.incrementAndGet()
                say("order update: $text")
                fills.send(text)
            }

            else -> say("message: $text")
        }
        return HandlerAction.Ok(state)
    }

    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> {
        if (message is UnmatchedReply) say("a reply nobody waited for: ${message.frame}")
        return HandlerAction.Ok(state)
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        val verdict = when {
            recovery.recovery(reason) is Recovery.Recoverable && reason.recovery is Recovery.Fatal ->
                "fatal by default, but the token was reused: retried once with a fresh one"

            reason.recovery is Recovery.Fatal -> "fatal: not retried"

            else -> "recoverable"
        }
        say("disconnected ($verdict): ${reason.explain()}")
        return DisconnectDecision.Default(state)
    }
}

/**
 * The conversation: token, requests, a subscription, an order, a server restart with an order sent while it is down,
 * then the server losing its sessions (a 401 for the reused token, retried once with a fresh one).
 */
public suspend fun trade(exchange: ExchangeServer, say: (String) -> Unit): TradingOutcome = coroutineScope {
    val fetched = AtomicInteger()
    // Fetched before the first attempt, and again when less than a second of its 3 s life is left.
    val token = BearerToken(refreshBefore = 1.seconds) {
        val (value, expiresAt) = exchange.issueToken()
        say("token service: issued ${fetched.incrementAndGet()}, valid until $expiresAt")
        BearerToken.Token(value, expiresAt)
    }
    val subscriptions = Subscriptions(JsonRpc.subscriptions())
    val orders = OutboundBuffer(maxFrames = 100, expireAfter = 30.seconds)
    val rpc = Requests(JsonRpc.codec(), timeout = 5.seconds)
    // The exchange's limit: bursts of 20, 10 more per second; an order costs 5, anything else 1.
    val limit = TokenBucketGate(
        capacity = 20,
        refillTokens = 10,
        refillPeriod = 1.seconds,
        maxWait = 2.seconds,
        cost = FrameCost { frame -> if ("private/" in (frame as? Frame.Text)?.text.orEmpty()) 5 else 1 },
    )
    subscriptions.subscribe("ticker.BTC-PERPETUAL")
    subscriptions.addListener { channel, state -> say("subscription $channel: $state") }
    val trader = Trader(say)
    val options =
        parleyOptions {
            url = exchange.url
            name = "trader"
            reconnect {
                baseDelay = 100.milliseconds
                maxDelay = 400.milliseconds
            }
            heartbeat {
                interval = 1.seconds
                pongTimeout = 2.seconds
                app = JsonRpc.heartbeat()
            }
            bearerToken(token)
            sendGate = limit
            layer(subscriptions)
            layer(orders)
            layer(rpc)
        }
    trader.recovery = options.recoveryPolicy
    val client = startParley(trader, Unit, options)
    suspend fun connected() = withTimeout(10.seconds) { client.state.first { it is ConnectionState.Connected } }
    val buy = """{"instrument_name":"BTC-PERPETUAL","amount":10,"type":"market"}"""
    try {
        connected()
        say("server time: ${rpc.call("public/get_time")}")
        rpc.call("public/set_heartbeat", """{"interval":10}""")
        withTimeout(10.seconds) {
            subscriptions.states.first { it.values.all { s -> s == SubscriptionState.Confirmed } }
        }
        withTimeout(10.seconds) { while (trader.tickers.get() < 3) delay(20) }
        say("bought: ${rpc.call("private/buy", buy)}")
        trader.fills.receive()

        say("--- the exchange restarts; an order sent meanwhile waits in the outbound buffer")
        exchange.stop()
        withTimeout(10.seconds) { client.state.first { it is ConnectionState.Disconnected } }
        val queuedOrder = orders.sendAsync(Frame.Text(JsonRpc.request("private/buy", buy)))
        say("orders waiting for a connection: ${orders.metrics().buffered}")
        // Down long enough for the token to go stale: the next attempt fetches a fresh one first, so no 401.
        delay(2.5.seconds)
        exchange.start()
        connected()
        queuedOrder.await()
        trader.fills.receive()
        withTimeout(10.seconds) {
            subscriptions.states.first { it.values.all { s -> s == SubscriptionState.Confirmed } }
        }

        say("--- the exchange loses its sessions: the token in hand is refused once")
        exchange.revokeTokens()
        exchange.stop()
        exchange.start()
        withTimeout(10.seconds) {
            client.state.first { (it as? ConnectionState.Connected)?.connection == 3L }
        }
        say("server time: ${rpc.call("public/get_time")}")

        say("--- quotes through a pool of 3 more connections that share the account's rate limit")
        val pooled = quoteThroughPool(exchange, limit, say)

        val metrics = client.metrics()
        val requests = rpc.metrics()
        say(
            "done: ${metrics.connection} connections, ${fetched.get()} tokens, ${exchange.refusedUpgrades.get()} " +
                "refused upgrade(s), ${requests.answered} requests answered (p50 ${requests.latency.p50}), " +
                "${subscriptions.metrics().restored} subscriptions restored; heartbeat " +
                (
                    metrics.lastHeartbeatAnsweredAt?.let {
                        "last answered at $it"
                    } ?: "never needed: messages kept coming"
                    ) + "; rate limit: ${limit.metrics()}",
        )
        TradingOutcome(
            connections = metrics.connection,
            tokensFetched = fetched.get(),
            refusedUpgrades = exchange.refusedUpgrades.get(),
            tickerUpdates = trader.tickers.get(),
            ordersFilled = trader.filled.get(),
            subscriptionsRestored = subscriptions.metrics().restored,
            requestsAnswered = requests.answered,
            pooledRequests = pooled,
        )
    } finally {
        client.stop()
    }
}

/**
 * Six quotes through a pool of three connections, each with its own token and requests, all under [limit]: each quote
 * goes to the healthiest member, and members equally healthy take turns. Returns the requests the pool routed.
 */
private suspend fun quoteThroughPool(exchange: ExchangeServer, limit: TokenBucketGate, say: (String) -> Unit): Long {
    val pool = ParleyPool.start(size = 3, endpoints = listOf(exchange.url)) { index, endpoint ->
        val quotes = Requests(JsonRpc.codec(), timeout = 5.seconds)
        val options = parleyOptions {
            url = endpoint
            name = "quotes-$index"
            bearerToken(
                BearerToken(refreshBefore = 1.seconds) {
                    val (value, expiresAt) = exchange.issueToken()
                    BearerToken.Token(value, expiresAt)
                },
            )
            sendGate = limit
            layer(quotes)
        }
        PoolMember(Parley.start(options), quotes)
    }
    try {
        withTimeout(10.seconds) { pool.state.first { it.connected == 3 } }
        repeat(6) { pool.request(Frame.Text(JsonRpc.request("public/get_time"))) }
        val metrics = pool.metrics()
        say("pool: ${metrics.requests} quotes, per member ${metrics.members.map { it.routed }}")
        return metrics.requests
    } finally {
        pool.stop()
    }
}
