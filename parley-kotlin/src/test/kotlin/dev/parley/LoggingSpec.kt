package dev.parley

import ch.qos.logback.classic.Level
import ch.qos.logback.classic.Logger
import ch.qos.logback.classic.LoggerContext
import ch.qos.logback.classic.spi.ILoggingEvent
import ch.qos.logback.classic.spi.ThrowableProxyUtil
import ch.qos.logback.core.AppenderBase
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.GarbageHttpServer
import dev.parley.testing.KtorTestServer
import dev.parley.testing.LOOPBACK
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.SilentServer
import dev.parley.testing.unusedPort
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldContainIgnoringCase
import io.kotest.matchers.string.shouldNotContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.withTimeoutOrNull
import org.slf4j.LoggerFactory
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private const val BEARER = "s3cr3t-token"
private const val API_KEY = "k3y-v4lue"
private const val QUERY_SECRET = "qu3ry-s3cret"
private const val COOKIE_SECRET = "c00kie-s3cret"
private val SECRETS = listOf(BEARER, API_KEY, QUERY_SECRET, COOKIE_SECRET)

/** The redaction mark Parley puts in place of a secret header value. */
private const val REDACTED = "██"

/**
 * Captures, in memory, every line logged under [loggerName] at TRACE and above, rendered as a layout would print it
 * (message with its arguments, MDC, and the stack trace of any throwable). The logger is detached from the console for
 * the duration; [close] restores its level and additivity.
 */
private class LogCapture(
    loggerName: String,
) : AutoCloseable {
    private val context = LoggerFactory.getILoggerFactory() as LoggerContext
    private val logger: Logger = context.getLogger(loggerName)
    private val previousLevel: Level? = logger.level
    private val previousAdditive = logger.isAdditive
    private val lines = ConcurrentLinkedQueue<String>()
    private val appender =
        object : AppenderBase<ILoggingEvent>() {
            override fun append(event: ILoggingEvent) {
                val throwable = event.throwableProxy?.let { "\n" + ThrowableProxyUtil.asString(it) } ?: ""
                val mdc = event.mdcPropertyMap.takeIf { it.isNotEmpty() }?.let { " $it" } ?: ""
                lines += "${event.level} ${event.loggerName}$mdc - ${event.formattedMessage}$throwable"
            }
        }

    init {
        appender.context = context
        appender.name = "capture-$loggerName"
        appender.start()
        logger.addAppender(appender)
        logger.level = Level.TRACE
        logger.isAdditive = false
    }

    /** Everything captured so far, one entry per line logged. */
    fun text(): String = lines.joinToString("\n")

    override fun close() {
        logger.detachAppender(appender)
        appender.stop()
        logger.level = previousLevel
        logger.isAdditive = previousAdditive
    }
}

/**
 * Runs [block] with `dev.parley` (asserted on) and `io.ktor` (reported only: not Parley's code) captured at TRACE,
 * then checks that no secret appears in Parley's lines and hands them to [evidence].
 */
private suspend fun withCapturedLogs(block: suspend () -> Unit, evidence: (String) -> Unit) {
    val ktorLines: String
    val parleyLines: String
    LogCapture("dev.parley").use { parley ->
        LogCapture("io.ktor").use { ktor ->
            block()
            ktorLines = ktor.text()
        }
        parleyLines = parley.text()
    }
    for (secret in SECRETS) {
        val leaks = parleyLines.lines().filter { it.contains(secret) }
        withClue("dev.parley log lines leaking '$secret':\n${leaks.joinToString("\n")}") {
            parleyLines shouldNotContain secret
        }
        ktorLines.lines().filter {
            it.contains(secret)
        }.forEach { println("NOTE: Ktor logged '$secret' at TRACE: $it") }
    }
    evidence(parleyLines)
}

/** Starts a standalone client with the secrets configured, runs [block], and always stops it. */
private suspend fun withSecretClient(
    url: String,
    handler: RecordingHandler<Unit> = recorder(),
    more: ParleyOptions.Builder.() -> Unit = {},
    block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) {
    val options = parleyOptions {
        this.url = url
        header("Authorization", "Bearer $BEARER")
        header("X-Api-Key", API_KEY)
        sensitiveHeaders += "X-Api-Key" // mixed case on purpose: matching must ignore case
        more()
    }
    withClue("ParleyOptions.toString() redacts the header secrets") {
        options.toString() shouldNotContain BEARER
        options.toString() shouldNotContain API_KEY
    }
    val client = Parley.start(handler, Unit, options)
    try {
        block(client, handler)
    } finally {
        withTimeoutOrNull(10.seconds) { client.stop() }
            ?: throw AssertionError("stop() did not return within 10 s; ${client.state.value}")
    }
}

class LoggingSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 30.seconds)

        test(
            "an accepted upgrade sends the bearer token, API key and query secret but never logs them, even at TRACE",
        ) {
            KtorTestServer().start().use { server ->
                val url = server.url("/ws/auth?token=$QUERY_SECRET")
                withCapturedLogs(
                    block = {
                        withSecretClient(url) { client, handler ->
                            handler.expect<Seen.Connected>()
                            client.awaitConnected()
                            client.send(Frame.Text("hello"))
                            handler.expect<Seen.Received>().frame shouldBe Frame.Text("hello")
                            client.disconnect()
                        }
                        // The secrets really were on the wire.
                        val request = server.upgradeRequests.awaitNext()
                        request.path shouldBe "/ws/auth"
                        request.header("authorization") shouldBe "Bearer $BEARER"
                        request.header("x-api-key") shouldBe API_KEY
                    },
                    evidence = { logs ->
                        logs shouldContain "upgrade headers"
                        logs shouldContainIgnoringCase "authorization"
                        logs shouldContainIgnoringCase "x-api-key"
                        logs shouldContain REDACTED
                        logs shouldContain "connecting to ws://$LOOPBACK:${server.port}/ws/auth?…"
                        logs shouldContain "received WireFrame(TEXT" // TRACE lines were captured too
                        logs shouldContain "ClosedLocally"
                    },
                )
            }
        }

        test("rejected upgrades (403, 401) never log the secrets, and the reason's response headers are redacted") {
            KtorTestServer().start().use { server ->
                RawWebSocketServer(
                    statusLine = "HTTP/1.1 401 Unauthorized",
                    extraHeaders = listOf("Set-Cookie: session=$COOKIE_SECRET", "X-Api-Key: $API_KEY"),
                ).use { raw ->
                    withCapturedLogs(
                        block = {
                            withSecretClient(server.url("/reject?token=$QUERY_SECRET")) { _, handler ->
                                val reason = handler.expect<Seen.Disconnected>().reason
                                reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().status shouldBe 403
                            }
                            withSecretClient(raw.url("/ws?token=$QUERY_SECRET")) { _, handler ->
                                raw.awaitConnection().request.header("authorization") shouldBe "Bearer $BEARER"
                                val reason = handler.expect<Seen.Disconnected>().reason
                                val rejected = reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                                rejected.status shouldBe 401
                                rejected.headers["set-cookie"] shouldBe listOf(REDACTED)
                                rejected.headers["x-api-key"] shouldBe listOf(REDACTED)
                                rejected.toString() shouldNotContain COOKIE_SECRET
                            }
                        },
                        evidence = { logs ->
                            logs shouldContain "upgrade headers"
                            logs shouldContainIgnoringCase "authorization"
                            logs shouldContain "HandshakeRejected(status=403"
                            logs shouldContain "HandshakeRejected(status=401"
                            logs shouldContain "set-cookie=[$REDACTED]"
                        },
                    )
                }
            }
        }

        test("attempts that fail before any response (refused, garbage, silent) never log the query secret") {
            GarbageHttpServer().use { garbage ->
                SilentServer().use { silent ->
                    withCapturedLogs(
                        block = {
                            val refused = "ws://$LOOPBACK:${unusedPort()}/ws?token=$QUERY_SECRET"
                            withSecretClient(refused) { _, handler ->
                                handler.expect<Seen.Disconnected>().reason
                                    .shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                            }
                            withSecretClient(garbage.url("/ws?token=$QUERY_SECRET")) { _, handler ->
                                handler.expect<Seen.Disconnected>().reason
                                    .shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                            }
                            val timeout = 300.milliseconds
                            val silentUrl = silent.url("/ws?token=$QUERY_SECRET")
                            withSecretClient(silentUrl, more = { connectTimeout = timeout }) { _, handler ->
                                handler.expect<Seen.Disconnected>().reason shouldBe
                                    DisconnectReason.ConnectTimedOut(timeout)
                            }
                        },
                        evidence = { logs ->
                            logs shouldContain "ConnectFailed"
                            logs shouldContain "ConnectTimedOut"
                            logs shouldContain "?…"
                        },
                    )
                }
            }
        }

        test("secret headers in a 101 response are redacted in ConnectionState.Connected and never logged") {
            RawWebSocketServer(extraHeaders = listOf("Set-Cookie: session=$COOKIE_SECRET")).use { raw ->
                withCapturedLogs(
                    block = {
                        withSecretClient(raw.url("/ws?token=$QUERY_SECRET")) { client, handler ->
                            val peer = raw.awaitConnection()
                            handler.expect<Seen.Connected>()
                            val connected = client.awaitConnected()
                            connected.responseHeaders["set-cookie"] shouldBe listOf(REDACTED)
                            connected.toString() shouldNotContain COOKIE_SECRET
                            peer.sendText("hi")
                            handler.expect<Seen.Received>().frame shouldBe Frame.Text("hi")
                        }
                    },
                    evidence = { logs ->
                        logs shouldContain "connected to ws://$LOOPBACK:${raw.port}/ws?…"
                        logs shouldContain "received WireFrame(TEXT"
                    },
                )
            }
        }
    })
