// The raw-tuned baseline of the neo4j_ingest benchmark: the graph our store writes, written the way Neo4j writes
// fastest from a plain client. Nodes first, one statement per label (static labels), then relationships, one
// statement per type (static types), both ends matched by the id index and the relationship merged; batches of
// 10k rows. No locks, no reads, no bookkeeping: the upper bound our store is measured against.
// One statement per label or type, separated by semicolons; the benchmark picks each by its label or type.
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Repository, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Commit, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Pipeline, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:PipelineRun, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:TaskRun, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Image, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Scan, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:System, n += row.props;
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:Trigger, n += row.props;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:RUN_OF]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:PART_OF]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:BUILT_FROM]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:IN_REPOSITORY]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:PRODUCED]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:REPORTED]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:SCANNED]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:RERUN_OF]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:TRIGGERED_BY]->(b)
  ON CREATE SET e.count = row.n;
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:BELONGS_TO]->(b)
  ON CREATE SET e.count = row.n;
