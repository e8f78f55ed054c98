package dev.parley.testkit

import org.junit.jupiter.api.extension.AfterEachCallback
import org.junit.jupiter.api.extension.BeforeEachCallback
import org.junit.jupiter.api.extension.ExtensionContext
import org.junit.jupiter.api.extension.ParameterContext
import org.junit.jupiter.api.extension.ParameterResolver

/**
 * A JUnit 5 extension that gives each test a fresh, started [WebSocketTestServer] and closes it after the test.
 *
 * Register it with `@RegisterExtension` (to configure the servers) or `@ExtendWith` (defaults), then take the server
 * as a parameter of the test (or of a `@BeforeEach` method), or from [server]:
 *
 * ```java
 * @RegisterExtension
 * final WebSocketTestServerExtension ws = new WebSocketTestServerExtension(WebSocketTestServer.builder().echo());
 *
 * @Test
 * void echoes(WebSocketTestServer server) { … }
 * ```
 *
 * Needs `org.junit.jupiter:junit-jupiter-api` on the test class path (an optional dependency of this module).
 */
public class WebSocketTestServerExtension @JvmOverloads constructor(
    private val builder: WebSocketTestServer.Builder = WebSocketTestServer.builder(),
) : BeforeEachCallback,
    AfterEachCallback,
    ParameterResolver {
    @Volatile private var current: WebSocketTestServer? = null

    /** The running test's server. Throws [IllegalStateException] outside a test. */
    public fun server(): WebSocketTestServer = current ?: error("no test is running with $this")

    /** Starts the test's server. */
    override fun beforeEach(context: ExtensionContext) {
        serverFor(context)
    }

    /** Closes the test's server. */
    override fun afterEach(context: ExtensionContext) {
        val server = context.getStore(NAMESPACE).remove(KEY, WebSocketTestServer::class.java)
        if (current === server) current = null
        server?.close()
    }

    /** True for parameters of type [WebSocketTestServer]. */
    override fun supportsParameter(parameterContext: ParameterContext, extensionContext: ExtensionContext): Boolean =
        parameterContext.parameter.type == WebSocketTestServer::class.java

    /** The test's server. */
    override fun resolveParameter(parameterContext: ParameterContext, extensionContext: ExtensionContext): Any =
        serverFor(extensionContext)

    private fun serverFor(context: ExtensionContext): WebSocketTestServer {
        val store = context.getStore(NAMESPACE)
        val existing = store.get(KEY, WebSocketTestServer::class.java)
        if (existing != null) return existing
        val server = builder.build().start()
        store.put(KEY, server)
        current = server
        return server
    }

    private companion object {
        val NAMESPACE: ExtensionContext.Namespace =
            ExtensionContext.Namespace.create(WebSocketTestServerExtension::class.java)
        const val KEY = "server"
    }
}
