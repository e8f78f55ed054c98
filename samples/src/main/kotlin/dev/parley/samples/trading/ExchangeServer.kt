package dev.parley.samples.trading

import dev.parley.samples.listenOn
import io.ktor.http.HttpStatusCode
import io.ktor.server.application.ApplicationCallPipeline
import io.ktor.server.application.install
import io.ktor.server.cio.CIOApplicationEngine
import io.ktor.server.engine.EmbeddedServer
import io.ktor.server.response.respond
import io.ktor.server.routing.route
import io.ktor.server.routing.routing
import io.ktor.server.websocket.DefaultWebSocketServerSession
import io.ktor.server.websocket.WebSockets
import io.ktor.server.websocket.webSocket
import io.ktor.websocket.Frame
import io.ktor.websocket.readText
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonPrimitive
import java.time.Instant
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

/**
 * A small exchange on 127.0.0.1 for the trading samples, shaped like Deribit's API v2: JSON-RPC 2.0 over WebSocket at
 * `/ws/api/v2`, an upgrade that needs `Authorization: Bearer <token>` (401 without a valid one), `public/get_time`,
 * `public/subscribe` / `public/unsubscribe` with `ticker.<instrument>` channels (a price update every 100 ms),
 * `private/buy` (answered with the order, then an `order_update` notification; sent as a notification, without an id,
 * only the `order_update` follows), Deribit's heartbeat
 * (`public/set_heartbeat` makes it send `test_request`s, `public/test` answers), and a token service whose tokens
 * expire. It can be restarted on the same port, and its tokens revoked, to show a client surviving both.
 */
public class ExchangeServer(
    /** How long a token from [issueToken] is accepted. */
    private val tokenLifetimeMillis: Long = 3_000,
) : AutoCloseable {
    private var server: EmbeddedServer<CIOApplicationEngine, CIOApplicationEngine.Configuration>? = null
    private val tokens = ConcurrentHashMap<String, Instant>()
    private val nextToken = AtomicLong()
    private val nextOrder = AtomicLong(1000)
    private val price = AtomicLong(6_400_000)

    /** Upgrades refused with 401 so far. */
    public val refusedUpgrades: AtomicLong = AtomicLong()

    /** Subscribe calls received so far, over all connections, channel by channel. */
    public val subscribeCalls: AtomicLong = AtomicLong()

    /** The port, fixed by the first [start]. */
    public var port: Int = 0
        private set

    /** The API's URL. */
    public val url: String get() = "ws://127.0.0.1:$port/ws/api/v2"

    /** The token service: a fresh token and when it expires. */
    public fun issueToken(): Pair<String, Instant> {
        val token = "tok-${nextToken.incrementAndGet()}"
        val expiresAt = Instant.now().plusMillis(tokenLifetimeMillis)
        tokens[token] = expiresAt
        return token to expiresAt
    }

    /** Forgets every token issued so far, as a server that lost its sessions: their next upgrade gets a 401. */
    public fun revokeTokens() {
        tokens.clear()
    }

    /** Starts listening: on a free port the first time, on the same port afterwards. */
    public fun start(): ExchangeServer {
        val listening = listenOn(port) { routes() }
        server = listening.server
        port = listening.port
        return this
    }

    /** Stops listening and drops every connection, as a restart does. */
    public fun stop() {
        server?.stop(gracePeriodMillis = 0, timeoutMillis = 500)
        server = null
    }

    override fun close(): Unit = stop()

    private fun authorized(header: String?): Boolean {
        val token = header?.removePrefix("Bearer ") ?: return false
        val expiresAt = tokens[token] ?: return false
        return Instant.now().isBefore(expiresAt)
    }

    private fun io.ktor.server.application.Application.routes() {
        install(WebSockets)
        routing {
            route("/ws/api/v2") {
                // Checked before the upgrade, as an exchange's gateway does: no valid token, no WebSocket.
                intercept(ApplicationCallPipeline.Plugins) {
                    if (!authorized(context.request.headers["Authorization"])) {
                        refusedUpgrades.incrementAndGet()
                        context.respond(HttpStatusCode.Unauthorized, "invalid or expired token")
                        finish()
                    }
                }
                webSocket { serve() }
            }
        }
    }

    private suspend fun DefaultWebSocketServerSession.serve() {
        val tickers = ConcurrentHashMap<String, Job>()
        for (frame in incoming) {
            if (frame !is Frame.Text) continue
            val request =
                runCatching { Json.parseToJsonElement(frame.readText()) as JsonObject }.getOrNull() ?: continue
            val params = request["params"] as? JsonObject
            val id = request["id"]
            if (id == null) {
                // A notification: only an order is acted on, and it gets no reply, only its order_update.
                if ((request["method"] as? JsonPrimitive)?.content == "private/buy") {
                    send(Frame.Text(notification("order_update", order(params))))
                }
                continue
            }
            suspend fun answer(result: JsonElement) = send(Frame.Text(reply(id, result)))
            when ((request["method"] as? JsonPrimitive)?.content) {
                "public/get_time" -> answer(JsonPrimitive(System.currentTimeMillis()))

                "public/test" -> answer(buildJsonObject { put("version", JsonPrimitive("1.2.26")) })

                "public/set_heartbeat" -> {
                    answer(JsonPrimitive("ok"))
                    send(
                        Frame.Text(
                            notification(
                                "heartbeat",
                                buildJsonObject {
                                    put("type", JsonPrimitive("test_request"))
                                },
                            ),
                        ),
                    )
                }

                "public/subscribe" -> {
                    val channels = params?.get("channels")?.jsonArray?.map { it.jsonPrimitive.content }.orEmpty()
                    subscribeCalls.addAndGet(channels.size.toLong())
                    answer(JsonArray(channels.map(::JsonPrimitive)))
                    for (channel in channels) {
                        tickers.remove(channel)?.cancel()
                        tickers[channel] = launch {
                            while (true) {
                                val data = buildJsonObject {
                                    put("instrument_name", JsonPrimitive(channel.removePrefix("ticker.")))
                                    put("last_price", JsonPrimitive(price.addAndGet((-50L..50L).random()) / 100.0))
                                }
                                send(
                                    Frame.Text(
                                        notification(
                                            "subscription",
                                            buildJsonObject {
                                                put("channel", JsonPrimitive(channel))
                                                put("data", data)
                                            },
                                        ),
                                    ),
                                )
                                delay(TICK_MS)
                            }
                        }
                    }
                }

                "public/unsubscribe" -> {
                    val channels = params?.get("channels")?.jsonArray?.map { it.jsonPrimitive.content }.orEmpty()
                    channels.forEach { tickers.remove(it)?.cancel() }
                    answer(JsonArray(channels.map(::JsonPrimitive)))
                }

                "private/buy" -> {
                    val order = order(params)
                    answer(buildJsonObject { put("order", order) })
                    send(Frame.Text(notification("order_update", order)))
                }

                else -> send(Frame.Text(error(id, -32601, "Method not found")))
            }
        }
        tickers.values.forEach { it.cancel() }
    }

    private fun order(params: JsonObject?) = buildJsonObject {
        put("order_id", JsonPrimitive("ORD-${nextOrder.incrementAndGet()}"))
        put("instrument_name", params?.get("instrument_name") ?: JsonPrimitive("?"))
        put("amount", params?.get("amount") ?: JsonPrimitive(0))
        put("order_state", JsonPrimitive("filled"))
    }

    private fun reply(id: JsonElement, result: JsonElement) = buildJsonObject {
        put("jsonrpc", JsonPrimitive("2.0"))
        put("id", id)
        put("result", result)
    }.toString()

    private fun error(id: JsonElement, code: Int, message: String) = buildJsonObject {
        put("jsonrpc", JsonPrimitive("2.0"))
        put("id", id)
        put(
            "error",
            buildJsonObject {
                put("code", JsonPrimitive(code))
                put("message", JsonPrimitive(message))
            },
        )
    }.toString()

    private fun notification(method: String, params: JsonObject) = buildJsonObject {
        put("jsonrpc", JsonPrimitive("2.0"))
        put("method", JsonPrimitive(method))
        put("params", params)
    }.toString()

    private companion object {
        const val TICK_MS = 100L
    }
}
