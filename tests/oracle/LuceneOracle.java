/*
 * Real-Lucene oracle for relevance-lab's tests: analyses texts and runs BM25 searches with
 * Lucene's own analyzers, query builders and similarities, over a tab-separated line protocol.
 *
 * Every field of every line is escaped: backslash, tab, newline and carriage return are written
 * as \\ \t \n \r. The first line names the mode.
 *
 *   analyze<TAB>ANALYZER            then one text per line
 *       -> per text: COUNT<TAB>TOKEN<TAB>TOKEN...
 *
 *   search<TAB>SIMILARITY           (bm25 = BM25Similarity, legacy_bm25 = LegacyBM25Similarity)
 *   field<TAB>NAME<TAB>ANALYZER     one per text field
 *   doc<TAB>ID<TAB>FIELD<TAB>TEXT...  documents in order (Lucene doc id = line order)
 *   query<TAB>SIZE<TAB>EXPR...      a query tree in prefix form, see Builder below
 *       -> per query: TOTAL<TAB>ID<TAB>SCORE_FLOAT_BITS_HEX...
 *
 *   search<TAB>SIMILARITY<TAB>PASSES  timing mode (PASSES > 0; 0 or no third field = as above):
 *       after indexing, the whole query list is run PASSES times on one thread, each pass
 *       building every query from its prefix tokens with the analyzers and collecting the top
 *       SIZE with a TopScoreDocCollector, timed with System.nanoTime (output is written after
 *       the last pass, outside the timed passes)
 *       -> the first pass's per-query lines as above, then per pass: time<TAB>NANOS
 */

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.core.KeywordAnalyzer;
import org.apache.lucene.analysis.core.SimpleAnalyzer;
import org.apache.lucene.analysis.core.StopAnalyzer;
import org.apache.lucene.analysis.core.WhitespaceAnalyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.miscellaneous.PerFieldAnalyzerWrapper;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.NoMergePolicy;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause.Occur;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.DisjunctionMaxQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.TopScoreDocCollector;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.search.similarities.Similarity;
import org.apache.lucene.search.similarity.LegacyBM25Similarity;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.apache.lucene.util.QueryBuilder;

public final class LuceneOracle {

  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
    String[] header = split(in.readLine());
    switch (header[0]) {
      case "analyze": analyze(analyzer(header[1]), in, out); break;
      case "search":
        search(similarity(header[1]), header.length > 2 ? Integer.parseInt(header[2]) : 0, in, out);
        break;
      default: throw new IllegalArgumentException("unknown mode " + header[0]);
    }
    out.flush();
  }

  // ---- analysis -------------------------------------------------------------------------------

  static Analyzer analyzer(String name) {
    switch (name) {
      case "standard": return new StandardAnalyzer(CharArraySet.EMPTY_SET);  // OpenSearch's "standard"
      case "english": return new EnglishAnalyzer();
      case "keyword": return new KeywordAnalyzer();
      case "whitespace": return new WhitespaceAnalyzer();
      case "simple": return new SimpleAnalyzer();
      case "stop": return new StopAnalyzer(EnglishAnalyzer.ENGLISH_STOP_WORDS_SET);
      case "standard_tokenizer":  // the bare tokenizer, for diagnosing segmentation
        return new Analyzer() {
          @Override protected TokenStreamComponents createComponents(String field) {
            return new TokenStreamComponents(new StandardTokenizer());
          }
        };
      default: throw new IllegalArgumentException("unknown analyzer " + name);
    }
  }

  static List<String> tokens(Analyzer analyzer, String field, String text) throws IOException {
    List<String> result = new ArrayList<>();
    try (TokenStream stream = analyzer.tokenStream(field, new StringReader(text))) {
      CharTermAttribute term = stream.addAttribute(CharTermAttribute.class);
      stream.reset();
      while (stream.incrementToken()) result.add(term.toString());
      stream.end();
    }
    return result;
  }

  static void analyze(Analyzer analyzer, BufferedReader in, BufferedWriter out) throws IOException {
    for (String line; (line = in.readLine()) != null; ) {
      List<String> toks = tokens(analyzer, "f", unescape(line));
      out.write(Integer.toString(toks.size()));
      for (String t : toks) { out.write('\t'); out.write(escape(t)); }
      out.write('\n');
    }
  }

  // ---- search ---------------------------------------------------------------------------------

  static Similarity similarity(String name) {
    switch (name) {
      case "bm25": return new BM25Similarity(1.2f, 0.75f);  // OpenSearch 3.x's default "BM25"
      case "legacy_bm25": return new LegacyBM25Similarity(1.2f, 0.75f);  // OpenSearch 1.x/2.x's default
      default: throw new IllegalArgumentException("unknown similarity " + name);
    }
  }

  static void search(Similarity similarity, int passes, BufferedReader in, BufferedWriter out)
      throws IOException {
    Map<String, Analyzer> fieldAnalyzers = new LinkedHashMap<>();
    List<String> ids = new ArrayList<>();
    List<String[]> queries = new ArrayList<>();
    ByteBuffersDirectory dir = new ByteBuffersDirectory();
    IndexWriter writer = null;
    for (String line; (line = in.readLine()) != null; ) {
      String[] parts = split(line);
      switch (parts[0]) {
        case "field": fieldAnalyzers.put(parts[1], analyzer(parts[2])); break;
        case "doc": {
          if (writer == null) {
            IndexWriterConfig config = new IndexWriterConfig(
                new PerFieldAnalyzerWrapper(new KeywordAnalyzer(), fieldAnalyzers));
            config.setSimilarity(similarity);
            config.setRAMBufferSizeMB(1024);
            config.setMaxBufferedDocs(IndexWriterConfig.DISABLE_AUTO_FLUSH);
            config.setMergePolicy(NoMergePolicy.INSTANCE);
            writer = new IndexWriter(dir, config);
          }
          Document doc = new Document();
          for (int i = 2; i + 1 < parts.length; i += 2) {
            doc.add(new TextField(parts[i], parts[i + 1], Field.Store.NO));
          }
          writer.addDocument(doc);
          ids.add(parts[1]);
          break;
        }
        case "query": queries.add(parts); break;
        default: throw new IllegalArgumentException("unknown line kind " + parts[0]);
      }
    }
    if (writer == null) throw new IllegalArgumentException("no documents");
    writer.commit();
    writer.close();
    try (DirectoryReader reader = DirectoryReader.open(dir)) {
      if (reader.leaves().size() != 1) throw new IllegalStateException("expected one segment");
      IndexSearcher searcher = new IndexSearcher(reader);
      searcher.setSimilarity(similarity);
      if (passes <= 0) {
        for (String[] q : queries) write(out, ids, topDocs(searcher, fieldAnalyzers, q), q);
        return;
      }
      List<TopDocs> first = new ArrayList<>(queries.size());
      long[] nanos = new long[passes];
      long sink = 0;  // every pass's totals are consumed
      for (int pass = 0; pass < passes; pass++) {
        long started = System.nanoTime();
        for (String[] q : queries) {
          TopDocs top = topDocs(searcher, fieldAnalyzers, q);
          sink += top.totalHits.value;
          if (pass == 0) first.add(top);
        }
        nanos[pass] = System.nanoTime() - started;
      }
      if (sink < 0) throw new IllegalStateException("negative hit totals");
      for (int i = 0; i < queries.size(); i++) write(out, ids, first.get(i), queries.get(i));
      for (long n : nanos) { out.write("time\t"); out.write(Long.toString(n)); out.write('\n'); }
    }
  }

  /** One query line's query, built from its prefix tokens, and its top SIZE (at least 1). */
  static TopDocs topDocs(IndexSearcher searcher, Map<String, Analyzer> fieldAnalyzers, String[] q)
      throws IOException {
    int size = Integer.parseInt(q[1]);
    Builder builder = new Builder(fieldAnalyzers, q, 2);
    Query query = builder.build();
    if (builder.pos != q.length) throw new IllegalArgumentException("trailing query tokens");
    TopScoreDocCollector collector = TopScoreDocCollector.create(Math.max(size, 1), Integer.MAX_VALUE);
    searcher.search(query, collector);
    return collector.topDocs();
  }

  /** TOTAL<TAB>ID<TAB>SCORE_FLOAT_BITS_HEX... for the query line {@code q}. */
  static void write(BufferedWriter out, List<String> ids, TopDocs top, String[] q) throws IOException {
    int size = Integer.parseInt(q[1]);
    out.write(Long.toString(top.totalHits.value));
    for (int i = 0; i < Math.min(size, top.scoreDocs.length); i++) {
      ScoreDoc sd = top.scoreDocs[i];
      out.write('\t'); out.write(escape(ids.get(sd.doc)));
      out.write('\t'); out.write(Integer.toHexString(Float.floatToIntBits(sd.score)));
    }
    out.write('\n');
  }

  /**
   * Builds Lucene queries the way OpenSearch's query builders do, from prefix-form tokens:
   *   match FIELD TEXT OCCUR(SHOULD|MUST) MSM(int|-) BOOST
   *   multi TIE(float|-) MOST(0|1) TEXT OCCUR MSM BOOST N (FIELD FIELD_BOOST){N}
   *   term FIELD VALUE BOOST
   *   bool NMUST NSHOULD NFILTER NMUSTNOT MSM BOOST  then the children in that order
   *   dismax N TIE BOOST  then N children
   *   const BOOST CHILD
   *   all BOOST
   */
  static final class Builder {
    final Map<String, Analyzer> analyzers;
    final String[] t;
    int pos;

    Builder(Map<String, Analyzer> analyzers, String[] tokens, int start) {
      this.analyzers = analyzers; this.t = tokens; this.pos = start;
    }

    String next() { return t[pos++]; }

    static float parseFloat(String s) { return (float) Double.parseDouble(s); }  // as Jackson does

    static Query boosted(Query q, float boost) { return boost == 1.0f ? q : new BoostQuery(q, boost); }

    Query build() {
      String kind = next();
      switch (kind) {
        case "match": {
          String field = next(), text = next();
          Occur occur = Occur.valueOf(next());
          String msm = next();
          float boost = parseFloat(next());
          return boosted(match(field, text, occur, msm), boost);
        }
        case "multi": {
          String tie = next();
          boolean most = next().equals("1");
          String text = next();
          Occur occur = Occur.valueOf(next());
          String msm = next();
          float boost = parseFloat(next());
          int n = Integer.parseInt(next());
          float tieBreaker = tie.equals("-") ? (most ? 1.0f : 0.0f) : parseFloat(tie);
          List<Query> perField = new ArrayList<>();
          for (int i = 0; i < n; i++) {
            String field = next();
            float fieldBoost = parseFloat(next());
            Query q = match(field, text, occur, msm);
            if (fieldBoost != 1.0f && !(q instanceof MatchNoDocsQuery)) q = new BoostQuery(q, fieldBoost);
            perField.add(q);
          }
          Query combined = perField.isEmpty() ? new MatchNoDocsQuery()
              : perField.size() == 1 ? perField.get(0) : new DisjunctionMaxQuery(perField, tieBreaker);
          return boosted(combined, boost);
        }
        case "term": {
          String field = next(), value = next();
          return boosted(new TermQuery(new Term(field, value)), parseFloat(next()));
        }
        case "bool": {
          int nMust = Integer.parseInt(next()), nShould = Integer.parseInt(next());
          int nFilter = Integer.parseInt(next()), nMustNot = Integer.parseInt(next());
          String msm = next();
          float boost = parseFloat(next());
          List<Query> must = children(nMust), should = children(nShould);
          List<Query> filter = children(nFilter), mustNot = children(nMustNot);
          // OpenSearch's clause order; since 7.0 no minimum_should_match of 1 in filter context
          BooleanQuery.Builder b = new BooleanQuery.Builder();
          for (Query q : must) b.add(q, Occur.MUST);
          for (Query q : mustNot) b.add(q, Occur.MUST_NOT);
          for (Query q : should) b.add(q, Occur.SHOULD);
          for (Query q : filter) b.add(q, Occur.FILTER);
          BooleanQuery bq = b.build();
          if (bq.clauses().isEmpty()) return boosted(new MatchAllDocsQuery(), boost);
          Query q = applyMinimumShouldMatch(bq, msm);
          return boosted(fixNegative(q), boost);
        }
        case "dismax": {
          int n = Integer.parseInt(next());
          float tie = parseFloat(next()), boost = parseFloat(next());
          List<Query> qs = children(n);
          Query q = qs.isEmpty() ? new MatchNoDocsQuery() : new DisjunctionMaxQuery(qs, tie);
          return boosted(q, boost);
        }
        case "const": {
          float boost = parseFloat(next());
          return boosted(new ConstantScoreQuery(build()), boost);
        }
        case "all": return boosted(new MatchAllDocsQuery(), parseFloat(next()));
        default: throw new IllegalArgumentException("unknown query kind " + kind);
      }
    }

    List<Query> children(int n) {
      List<Query> qs = new ArrayList<>();
      for (int i = 0; i < n; i++) qs.add(build());
      return qs;
    }

    /** OpenSearch MatchQuery (type boolean): Lucene's QueryBuilder, zero terms -> no docs. */
    Query match(String field, String text, Occur occur, String msm) {
      Analyzer analyzer = analyzers.get(field);
      if (analyzer == null) throw new IllegalArgumentException("unknown field " + field);
      Query q = new QueryBuilder(analyzer).createBooleanQuery(field, text, occur);
      if (q == null) return new MatchNoDocsQuery();
      return q instanceof BooleanQuery ? applyMinimumShouldMatch((BooleanQuery) q, msm) : q;
    }
  }

  /** OpenSearch Queries.applyMinimumShouldMatch with an integer specification. */
  static Query applyMinimumShouldMatch(BooleanQuery query, String msm) {
    if (msm.equals("-")) return query;
    int optional = 0;
    for (BooleanClause c : query.clauses()) if (c.getOccur() == Occur.SHOULD) optional++;
    int spec = Integer.parseInt(msm);
    int result = Math.max(spec < 0 ? optional + spec : spec, 0);  // not capped: more than there are matches nothing
    if (result == 0) return query;
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (BooleanClause c : query.clauses()) b.add(c);
    b.setMinimumNumberShouldMatch(result);
    return b.build();
  }

  /** OpenSearch Queries.fixNegativeQueryIfNeeded: a purely negative bool matches all but those. */
  static Query fixNegative(Query q) {
    if (!(q instanceof BooleanQuery)) return q;
    BooleanQuery bq = (BooleanQuery) q;
    for (BooleanClause c : bq.clauses()) if (c.getOccur() != Occur.MUST_NOT) return q;
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (BooleanClause c : bq.clauses()) b.add(c);
    b.add(new MatchAllDocsQuery(), Occur.FILTER);
    return b.build();
  }

  // ---- line protocol --------------------------------------------------------------------------

  static String[] split(String line) {
    String[] raw = line.split("\t", -1);
    for (int i = 0; i < raw.length; i++) raw[i] = unescape(raw[i]);
    return raw;
  }

  static String unescape(String s) {
    if (s.indexOf('\\') < 0) return s;
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\') { b.append(c); continue; }
      char e = s.charAt(++i);
      b.append(e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e);
    }
    return b.toString();
  }

  static String escape(String s) {
    StringBuilder b = new StringBuilder(s.length() + 8);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\': b.append("\\\\"); break;
        case '\t': b.append("\\t"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        default: b.append(c);
      }
    }
    return b.toString();
  }
}
