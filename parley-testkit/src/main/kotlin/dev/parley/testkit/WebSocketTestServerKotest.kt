package dev.parley.testkit

import io.kotest.core.extensions.MountableExtension
import io.kotest.core.listeners.AfterSpecListener
import io.kotest.core.listeners.AfterTestListener
import io.kotest.core.spec.Spec
import io.kotest.core.test.TestCase
import io.kotest.engine.test.TestResult

/**
 * A Kotest extension that starts a [WebSocketTestServer] for a spec and closes it after the spec; between tests it
 * [resets][WebSocketTestServer.reset] the server (unless [resetAfterEachTest] is false), so one test's connections do
 * not leak into the next.
 *
 * ```kotlin
 * class MySpec : FunSpec({
 *     val server = install(WebSocketTestServerKotest()) { echo() }
 *     test("echoes") { /* connect to server.uri() … */ }
 * })
 * ```
 *
 * The server starts when installed (so `server.uri()` works in the spec's body). Needs
 * `io.kotest:kotest-framework-engine-jvm` on the test class path (an optional dependency of this module).
 */
public class WebSocketTestServerKotest @JvmOverloads constructor(
    private val builder: WebSocketTestServer.Builder = WebSocketTestServer.builder(),
    private val resetAfterEachTest: Boolean = true,
) : MountableExtension<WebSocketTestServer.Builder, WebSocketTestServer>,
    AfterTestListener,
    AfterSpecListener {
    @Volatile private var server: WebSocketTestServer? = null

    /** Applies [configure] to the builder, then builds and starts the server. */
    override fun mount(configure: WebSocketTestServer.Builder.() -> Unit): WebSocketTestServer {
        check(server == null) { "$this is already installed" }
        builder.configure()
        return builder.build().start().also { server = it }
    }

    /** Resets the server after each test, if so configured. */
    override suspend fun afterTest(testCase: TestCase, result: TestResult) {
        if (resetAfterEachTest) server?.reset()
    }

    /** Closes the server. */
    override suspend fun afterSpec(spec: Spec) {
        server?.close()
        server = null
    }
}
