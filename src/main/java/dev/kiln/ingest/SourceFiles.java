package dev.kiln.ingest;

import dev.kiln.common.KilnUserException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Turns {@code --source} (a file, a directory or a glob, on any Hadoop filesystem) into the files to read. */
final class SourceFiles {
  private SourceFiles() {}

  static List<SourceFile> resolve(String source, Configuration conf) {
    if (source == null || source.isBlank()) {
      throw new KilnUserException("--source must not be empty");
    }
    try {
      Path path = new Path(source);
      FileSystem fs = path.getFileSystem(conf);
      List<FileStatus> statuses = new ArrayList<>();
      if (isGlob(source)) {
        FileStatus[] matched = fs.globStatus(path);
        if (matched != null) {
          for (FileStatus s : matched) {
            if (s.isFile() && !hidden(s.getPath())) {
              statuses.add(s);
            }
          }
        }
        if (statuses.isEmpty()) {
          throw new KilnUserException("no source files match '" + source + "'");
        }
      } else if (!fs.exists(path)) {
        throw new KilnUserException("source not found (" + source + ")");
      } else if (fs.getFileStatus(path).isDirectory()) {
        for (FileStatus s : fs.listStatus(path)) {
          if (s.isFile() && !hidden(s.getPath())) {
            statuses.add(s);
          }
        }
        if (statuses.isEmpty()) {
          throw new KilnUserException("source directory has no files (" + source + ")");
        }
      } else {
        statuses.add(fs.getFileStatus(path));
      }
      List<SourceFile> files = new ArrayList<>();
      for (FileStatus s : statuses) {
        String p = s.getPath().toString();
        if (s.getLen() == 0) {
          throw new KilnUserException("source file is empty (" + p + ")");
        }
        files.add(new SourceFile(p, s.getLen(), s.getModificationTime()));
      }
      files.sort(Comparator.comparing(SourceFile::path));
      return files;
    } catch (IOException e) {
      throw new KilnUserException("cannot list source '" + source + "': " + e.getMessage());
    }
  }

  private static boolean isGlob(String source) {
    return source.chars().anyMatch(c -> c == '*' || c == '?' || c == '[' || c == '{');
  }

  /** Hadoop's convention: names starting with '_' or '.' are metadata (e.g. _SUCCESS, _truth.json, .crc). */
  private static boolean hidden(Path p) {
    String n = p.getName();
    return n.startsWith("_") || n.startsWith(".");
  }
}
