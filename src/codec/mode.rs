//! How a stream's latents are coded: the prior modes a file names, and what each needs.

use crate::codec::entropy::{Family, Tables};

/// How latents are coded: one global prior, per-subclass priors with the ids in the stream,
/// or per-subclass context priors (means and scales following the context, the residuals
/// logistic, the ids following their neighbours'; or, in files written before, the ids alone,
/// the residuals Gaussian, the scales following the context less closely, or only the means).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PriorMode {
    /// One table for every patch; no ids.
    Global,
    /// One table per subclass; each patch's id is coded first.
    Subclass,
    /// One context prior per subclass, its means shifted by each latent's prediction from the
    /// latents decoded before it, its scales moved by how surprising they were, its residuals
    /// logistic; each patch's id is coded first, its subclass likelier where its left or top
    /// neighbour has it.
    Context,
    /// Context with each id coded alone: files written before the ids followed their
    /// neighbours'.
    ContextIdsAlone,
    /// Context with Gaussian residuals: files written before the logistic.
    ContextGaussian,
    /// Context with Gaussian residuals and the scales moved by the sum of how surprising the
    /// neighbours were: the default of weights without the grid, and files written before it.
    ContextSum,
    /// [`PriorMode::Context`] with the scales as the context priors have them: files written
    /// before the scales followed the context (read, no longer written).
    #[cfg_attr(feature = "cli", value(skip))]
    ContextMeans,
}

impl PriorMode {
    /// Every mode, in the order of their bytes in a file.
    pub const ALL: [Self; 7] = [
        PriorMode::Global,
        PriorMode::Subclass,
        PriorMode::ContextMeans,
        PriorMode::ContextSum,
        PriorMode::ContextGaussian,
        PriorMode::ContextIdsAlone,
        PriorMode::Context,
    ];

    /// Its name, as the CLI takes it and `info` and the page show it.
    pub fn name(self) -> &'static str {
        match self {
            PriorMode::Global => "global",
            PriorMode::Subclass => "subclass",
            PriorMode::Context => "context",
            PriorMode::ContextIdsAlone => "context-ids-alone",
            PriorMode::ContextGaussian => "context-gaussian",
            PriorMode::ContextSum => "context-sum",
            PriorMode::ContextMeans => "context-means",
        }
    }

    /// Whether it codes with context.
    pub fn has_context(self) -> bool {
        !matches!(self, PriorMode::Global | PriorMode::Subclass)
    }

    /// Whether each id is coded knowing its left and top neighbours' ([`ID_BOOST`](crate::codec::coder::ID_BOOST)).
    pub fn ids_follow_neighbours(self) -> bool {
        self == PriorMode::Context
    }

    /// The family of its residuals.
    pub fn family(self) -> Family {
        match self {
            PriorMode::Context | PriorMode::ContextIdsAlone => Family::Logistic,
            _ => Family::Gaussian,
        }
    }

    /// Its coding tables.
    pub(crate) fn tables(self) -> &'static Tables {
        Tables::of(self.family())
    }
}

/// A stream to code: its mode, and what the mode needs besides the latents.
#[derive(Clone, Copy, Debug)]
pub enum Coding<'a> {
    /// Every patch under the global prior.
    Global,
    /// Each patch under its subclass's prior.
    Subclass {
        /// One id per patch.
        ids: &'a [u8],
    },
    /// Each patch under its subclass's context prior.
    Context {
        /// One id per patch.
        ids: &'a [u8],
        /// The patch grid's width (the predictions' neighbours).
        cols: usize,
        /// Which context mode: how the scales follow the context.
        mode: PriorMode,
    },
}

impl<'a> Coding<'a> {
    /// The coding of `mode` with these ids (unused in global mode) on a grid `cols` wide.
    pub fn new(mode: PriorMode, ids: &'a [u8], cols: usize) -> Self {
        match mode {
            PriorMode::Global => Coding::Global,
            PriorMode::Subclass => Coding::Subclass { ids },
            _ => Coding::Context { ids, cols, mode },
        }
    }

    /// Its mode.
    pub fn mode(&self) -> PriorMode {
        match self {
            Coding::Global => PriorMode::Global,
            Coding::Subclass { .. } => PriorMode::Subclass,
            Coding::Context { mode, .. } => *mode,
        }
    }

    /// The ids it codes (none in global mode).
    pub fn ids(&self) -> Option<&'a [u8]> {
        match *self {
            Coding::Global => None,
            Coding::Subclass { ids } | Coding::Context { ids, .. } => Some(ids),
        }
    }

    /// With context, the grid's width.
    pub(crate) fn context(&self) -> Option<usize> {
        match *self {
            Coding::Context { cols, .. } => Some(cols),
            _ => None,
        }
    }
}
