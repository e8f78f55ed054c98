/** A modular application using Parley from Java, as `mvn verify` builds and runs it on the module path. */
module dev.parley.consumer.jpms {
    requires dev.parley.java;
    requires dev.parley.testkit;
}
