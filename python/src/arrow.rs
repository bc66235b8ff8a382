//! Tables handed to Python through the Arrow C data interface: the frame's buffers are exported
//! as they are (no copy, no serialisation) and pyarrow takes ownership of them; polars and pandas
//! read the pyarrow table (polars without copying numbers).

use codesim::metrics::table::{Docs, arrow_schema};
use polars::prelude::*;
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// A table of the simulator (requests of a run, results of a sweep), its columns described.
#[pyclass(frozen, module = "codesim._codesim")]
pub struct Frame {
    df: DataFrame,
    docs: Docs,
}

impl Frame {
    pub fn new(df: DataFrame, docs: Docs) -> Frame {
        Frame { df, docs }
    }

    /// The frame as one Arrow struct array (a record batch) at the oldest compatibility level:
    /// plain `large_string` columns, which every pyarrow since 0.15 imports.
    fn struct_array(&self) -> (Field, Box<dyn Array>) {
        let schema = arrow_schema(&self.df, &self.docs);
        let fields: Vec<Field> = schema.iter_values().cloned().collect();
        let level = CompatLevel::oldest();
        let columns: Vec<Box<dyn Array>> = self
            .df
            .columns()
            .iter()
            .map(|c| c.as_materialized_series().rechunk().to_arrow(0, level))
            .collect();
        let dtype = ArrowDataType::Struct(fields);
        let array = StructArray::new(dtype.clone(), self.df.height(), columns, None);
        (Field::new("".into(), dtype, false), array.boxed())
    }
}

#[pymethods]
impl Frame {
    fn __len__(&self) -> usize {
        self.df.height()
    }

    /// The table as a `pyarrow.Table`, its buffers shared through the Arrow C data interface;
    /// each field's metadata holds its description.
    fn to_pyarrow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.df.width() == 0 {
            return Err(PyRuntimeError::new_err("a table without columns"));
        }
        let pa = py.import("pyarrow")?;
        let (field, array) = self.struct_array();
        let schema = Box::new(ffi::export_field_to_c(&field));
        let array = Box::new(ffi::export_array_to_c(array));
        let schema_ptr = &*schema as *const ffi::ArrowSchema as usize;
        let array_ptr = &*array as *const ffi::ArrowArray as usize;
        // pyarrow moves both structures out (their release callbacks become its own); the boxes
        // are freed when they drop, after the import.
        let batch = pa
            .getattr("RecordBatch")?
            .call_method1("_import_from_c", (array_ptr, schema_ptr))?;
        pa.getattr("Table")?.call_method1("from_batches", (vec![batch],))
    }
}
