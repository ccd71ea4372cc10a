package dev.kiln.common;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;

/** Ships the driver's Hadoop configuration (credentials for s3a:, abfss:, ...) to tasks that open files themselves. */
public final class SerializableHadoopConf implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final AtomicLong DESERIALIZED = new AtomicLong();
  private transient Configuration conf;

  public SerializableHadoopConf(Configuration conf) {
    this.conf = conf;
  }

  public Configuration get() {
    return conf;
  }

  /** How many copies this JVM has deserialized: tests check the conf is broadcast, not shipped with every task. */
  public static long deserializations() {
    return DESERIALIZED.get();
  }

  private void writeObject(ObjectOutputStream out) throws IOException {
    out.defaultWriteObject();
    conf.write(out);
  }

  private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
    in.defaultReadObject();
    conf = new Configuration(false);
    conf.readFields(in);
    DESERIALIZED.incrementAndGet();
  }
}
