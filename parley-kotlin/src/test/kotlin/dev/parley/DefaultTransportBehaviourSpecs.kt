package dev.parley

import dev.parley.testing.suite.ClientBehaviourSuite
import dev.parley.testing.suite.KotlinApiPath
import dev.parley.testing.suite.TlsFrontedPath

/** The behaviour suite over Parley's own transport, plain. */
class DefaultTransportWsBehaviourSpec : ClientBehaviourSuite(KotlinApiPath("Kotlin API, Parley's transport, ws://"))

/** The behaviour suite over Parley's own transport, with nginx terminating TLS in front of every server. */
class DefaultTransportWssBehaviourSpec : ClientBehaviourSuite(
    TlsFrontedPath("Kotlin API, Parley's transport, wss:// via nginx"),
)
