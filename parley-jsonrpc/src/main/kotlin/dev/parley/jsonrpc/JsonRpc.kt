package dev.parley.jsonrpc

import dev.parley.AppHeartbeat
import dev.parley.Frame
import dev.parley.RequestCodec
import dev.parley.Requests
import dev.parley.StampedRequest
import dev.parley.SubscriptionCodec
import dev.parley.SubscriptionReply
import dev.parley.Subscriptions
import kotlinx.serialization.SerializationException
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.longOrNull
import java.util.concurrent.atomic.AtomicLong

/**
 * JSON-RPC 2.0 over Parley's [Requests]: [codec] matches replies to requests by their `id`, [request] builds a
 * request, [reply] reads one. In Kotlin, [call] does all three.
 *
 * ```kotlin
 * val rpc = Requests(JsonRpc.codec(), timeout = 10.seconds)
 * val client = Parley.start(handler, Unit, parleyOptions { url = "wss://…"; layer(rpc) })
 * val time = rpc.call("public/get_time")            // the result, as JSON text
 * ```
 *
 * Batches (a JSON array of requests) are not matched: send them as separate requests.
 */
public object JsonRpc {
    private val json = Json

    /**
     * A codec for JSON-RPC 2.0. A request that carries an `id` (a number or a string) keeps it; one without gets the
     * next number, from 1. Ids are compared as their JSON text, so `7` and `"7"` are different requests. An inbound
     * text message is a reply when it is a JSON object with an `id` and a `result` or an `error`, and no `method`
     * (a server's own requests and notifications carry one); anything else reaches the handler as usual.
     */
    @JvmStatic
    public fun codec(): RequestCodec<String> = Codec()

    /**
     * A request's text: `{"jsonrpc":"2.0","method":…,"params":…}`, without an id (the codec adds one).
     *
     * @param params the parameters as JSON text (an object or an array), or `null` for none.
     * @throws IllegalArgumentException if [params] is not a JSON object or array.
     */
    @JvmStatic
    @JvmOverloads
    public fun request(method: String, params: String? = null): String {
        val parsed = params?.let {
            val element = parse(it) ?: throw IllegalArgumentException("params are not JSON: $it")
            require(element is JsonObject || element is JsonArray) {
                "JSON-RPC params are an object or an array, not $element"
            }
            element
        }
        return call(method, id = null, params = parsed)
    }

    /** A call's text, its members in this order: `jsonrpc`, `id` (when given), `method`, `params` (when given). */
    private fun call(method: String, id: JsonPrimitive?, params: JsonElement?): String = buildJsonObject {
        put("jsonrpc", JsonPrimitive("2.0"))
        if (id != null) put("id", id)
        put("method", JsonPrimitive(method))
        if (params != null) put("params", params)
    }.toString()

    /**
     * [text] as an answer to a call: a JSON object without `method` (a server's own calls and notifications have one)
     * and with a non-null `id`, returned with that id; `null` otherwise.
     */
    private fun answerIn(text: String): Pair<JsonObject, JsonPrimitive>? {
        val obj = parse(text) as? JsonObject ?: return null
        if ("method" in obj) return null
        val id = obj["id"] as? JsonPrimitive ?: return null
        return if (id is JsonNull) null else obj to id
    }

    /** Whether this answer carries an outcome, a `result` or an `error`, as a JSON-RPC reply does. */
    private fun JsonObject.hasOutcome(): Boolean = "result" in this || "error" in this

    /**
     * Reads a reply's outcome.
     *
     * @throws IllegalArgumentException if [text] is not a JSON-RPC reply (an object with `result` or `error`).
     */
    @JvmStatic
    public fun reply(text: String): JsonRpcReply {
        val obj = parse(text) as? JsonObject ?: throw IllegalArgumentException("not a JSON-RPC reply: $text")
        obj["error"]?.takeUnless { it is JsonNull }?.let { error ->
            val e = error as? JsonObject ?: throw IllegalArgumentException("a JSON-RPC error is an object: $error")
            val code = (e["code"] as? JsonPrimitive)?.longOrNull
                ?: throw IllegalArgumentException("a JSON-RPC error has a numeric code: $error")
            val message = (e["message"] as? JsonPrimitive)?.content.orEmpty()
            return JsonRpcReply(null, code, message, e["data"]?.toString())
        }
        val result = obj["result"] ?: throw IllegalArgumentException("not a JSON-RPC reply: no result or error")
        return JsonRpcReply(result.toString(), 0, "", null)
    }

    /**
     * A [SubscriptionCodec] for exchanges whose subscriptions are JSON-RPC calls with a list of channels, as
     * Deribit's: `{"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.raw"]}}`, answered with the
     * channels subscribed. Each key is one channel, subscribed in a call of its own with the id `"sub:<channel>"`
     * (`"unsub:<channel>"` to unsubscribe), so its reply is told apart from [Requests]' (add [Subscriptions] before
     * them). A result that does not list the channel, or an error, refuses it.
     *
     * @param subscribeMethod the method that subscribes (default `public/subscribe`).
     * @param unsubscribeMethod the method that unsubscribes (default `public/unsubscribe`).
     */
    @JvmStatic
    @JvmOverloads
    public fun subscriptions(
        subscribeMethod: String = "public/subscribe",
        unsubscribeMethod: String = "public/unsubscribe",
    ): SubscriptionCodec<String> = ChannelSubscriptions(subscribeMethod, unsubscribeMethod)

    private class ChannelSubscriptions(
        private val subscribeMethod: String,
        private val unsubscribeMethod: String,
    ) : SubscriptionCodec<String> {
        override fun subscribe(key: String): Frame = call(subscribeMethod, SUBSCRIBE + key, key)

        override fun unsubscribe(key: String): Frame = call(unsubscribeMethod, UNSUBSCRIBE + key, key)

        private fun call(method: String, id: String, channel: String) = Frame.Text(
            call(
                method,
                JsonPrimitive(id),
                buildJsonObject { put("channels", JsonArray(listOf(JsonPrimitive(channel)))) },
            ),
        )

        override fun confirmation(frame: Frame): SubscriptionReply<String>? {
            val text = (frame as? Frame.Text)?.text ?: return null
            if (!text.contains("\"$SUBSCRIBE") && !text.contains("\"$UNSUBSCRIBE")) return null
            val (obj, answered) = answerIn(text) ?: return null
            val id = answered.takeIf { it.isString }?.content ?: return null
            return when {
                id.startsWith(UNSUBSCRIBE) -> SubscriptionReply.Unsubscribed(listOf(id.removePrefix(UNSUBSCRIBE)))

                id.startsWith(SUBSCRIBE) -> {
                    val channel = id.removePrefix(SUBSCRIBE)
                    val error = obj["error"] as? JsonObject
                    val listed = (obj["result"] as? JsonArray)?.any { (it as? JsonPrimitive)?.content == channel }
                    when {
                        error != null -> SubscriptionReply.Refused(
                            listOf(channel),
                            (error["message"] as? JsonPrimitive)?.content ?: error.toString(),
                        )

                        listed == true -> SubscriptionReply.Confirmed(listOf(channel))

                        else -> SubscriptionReply.Refused(listOf(channel), "the server's answer did not list it")
                    }
                }

                else -> null
            }
        }

        private companion object {
            const val SUBSCRIBE = "sub:"
            const val UNSUBSCRIBE = "unsub:"
        }
    }

    /**
     * An [AppHeartbeat] for exchanges that, as Deribit, are kept alive with JSON-RPC calls: each ping is a call of
     * [method] (default `public/test`) with the id `"hb:<n>"`, answered by its reply (a result or an error: either
     * proves the application is running); and a server's own `{"method":"heartbeat","params":{"type":"test_request"}}`
     * is answered with a [method] call at once (with the id `"hb:0"`, whose reply is consumed too). Set it with
     * `heartbeat { app = JsonRpc.heartbeat() }` (Java: `heartbeat(interval, pongTimeout, JsonRpc.heartbeat())`).
     */
    @JvmStatic
    @JvmOverloads
    public fun heartbeat(method: String = "public/test"): AppHeartbeat = RpcHeartbeat(method)

    private class RpcHeartbeat(
        private val method: String,
    ) : AppHeartbeat {
        override fun ping(sequence: Long): Frame = call(sequence)

        private fun call(sequence: Long) = Frame.Text(call(method, JsonPrimitive(HEARTBEAT + sequence), params = null))

        override fun pongSequence(frame: Frame): Long? {
            val text = (frame as? Frame.Text)?.text ?: return null
            if (!text.contains("\"$HEARTBEAT")) return null
            val (obj, answered) = answerIn(text) ?: return null
            val id = answered.takeIf { obj.hasOutcome() && it.isString }?.content ?: return null
            return id.removePrefix(HEARTBEAT).takeIf { id.startsWith(HEARTBEAT) }?.toLongOrNull()
        }

        override fun answer(frame: Frame): Frame? {
            val text = (frame as? Frame.Text)?.text ?: return null
            if (!text.contains("test_request")) return null
            val obj = parse(text) as? JsonObject ?: return null
            val type = ((obj["params"] as? JsonObject)?.get("type") as? JsonPrimitive)?.content
            return if ((obj["method"] as? JsonPrimitive)?.content == "heartbeat" && type == "test_request") {
                call(0)
            } else {
                null
            }
        }

        private companion object {
            const val HEARTBEAT = "hb:"
        }
    }

    private fun parse(text: String): JsonElement? = try {
        json.parseToJsonElement(text)
    } catch (e: SerializationException) {
        null
    } catch (e: IllegalArgumentException) {
        null
    }

    private class Codec : RequestCodec<String> {
        private val next = AtomicLong()

        override fun stamp(request: Frame): StampedRequest<String> {
            val text = (request as? Frame.Text)?.text
                ?: throw IllegalArgumentException("a JSON-RPC request is a text frame")
            val obj = parse(text) as? JsonObject
                ?: throw IllegalArgumentException("a JSON-RPC request is a JSON object: $text")
            val id = obj["id"]
            if (id != null && id !is JsonNull) {
                require(id is JsonPrimitive) { "a JSON-RPC id is a number or a string, not $id" }
                return StampedRequest(id.toString(), request)
            }
            val stamped = JsonPrimitive(next.incrementAndGet())
            val withId = JsonObject(obj + ("id" to stamped))
            return StampedRequest(stamped.toString(), Frame.Text(withId.toString()))
        }

        override fun replyId(frame: Frame): String? {
            val text = (frame as? Frame.Text)?.text ?: return null
            // Most of a stream's messages carry no id at all: skip parsing those.
            if (!text.contains("\"id\"")) return null
            val (obj, id) = answerIn(text) ?: return null
            return if (obj.hasOutcome()) id.toString() else null
        }
    }
}

/**
 * A JSON-RPC reply: a [result], or an error with [errorCode], [errorMessage] and [errorData].
 *
 * @property result the result as JSON text, or `null` for an error.
 * @property errorCode the error's code, or 0 for a result.
 * @property errorMessage the error's message, or empty for a result.
 * @property errorData the error's `data` as JSON text, or `null`.
 */
public class JsonRpcReply internal constructor(
    public val result: String?,
    public val errorCode: Long,
    public val errorMessage: String,
    public val errorData: String?,
) {
    /** Whether the server answered with an error. */
    public val isError: Boolean get() = result == null

    override fun toString(): String =
        if (isError) "JsonRpcReply(error $errorCode: $errorMessage)" else "JsonRpcReply(result=$result)"
}

/**
 * The server answered a [call] with a JSON-RPC error.
 *
 * @property code the error's code (e.g. -32601 for a method not found).
 * @property data the error's `data` as JSON text, or `null`.
 */
public class JsonRpcErrorException(
    public val code: Long,
    message: String,
    public val data: String?,
) : Exception("JSON-RPC error $code: $message")

/**
 * Calls [method] with [params] (JSON text, or `null`) and returns the result as JSON text, as [Requests.request]
 * answers (its exceptions included).
 *
 * @throws JsonRpcErrorException if the server answered with an error.
 */
public suspend fun Requests<String>.call(method: String, params: String? = null): String {
    val answer = request(Frame.Text(JsonRpc.request(method, params)))
    val text = (answer as? Frame.Text)?.text ?: throw IllegalArgumentException("a JSON-RPC reply came as binary")
    val reply = JsonRpc.reply(text)
    if (reply.isError) throw JsonRpcErrorException(reply.errorCode, reply.errorMessage, reply.errorData)
    return reply.result!!
}
